"""The hashpivot CLI: option handling, the summary, and whole runs in a subprocess."""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from orchestration import settings
from orchestration.cli import (
    _extraction_lines,
    build_parser,
    export_options,
    prepare_dagster_home,
    publish_line,
)
from orchestration.paths import DATA_DIR_ENV, data_paths
from tests.pipeline import run_hashpivot


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["run", *argv])


def test_options_are_exported_to_the_environment(tmp_path: Path) -> None:
    environ = {settings.UNIVERSE.env_var: "all"}
    export_options(parse("--source", "csv", "--csv-dir", "x", "--data-dir", str(tmp_path)), environ)
    assert environ[settings.PRICE_SOURCE.env_var] == "csv"
    assert environ[settings.CSV_DIR.env_var] == "x"
    assert environ[settings.UNIVERSE.env_var] == "all"  # not given: the environment's value stays
    assert environ[DATA_DIR_ENV] == str(tmp_path.resolve())


def test_a_bad_date_option_is_refused_with_its_name() -> None:
    with pytest.raises(settings.SettingsError, match="start '2024-13-01' is not a date"):
        export_options(parse("--start", "2024-13-01"), {})


def test_a_bad_environment_variable_is_refused_with_its_name() -> None:
    with pytest.raises(settings.SettingsError, match="HASHPIVOT_DEMO_TICKERS 'many' is not"):
        export_options(parse(), {settings.DEMO_TICKERS.env_var: "many"})


def test_every_cli_setting_is_a_flag_with_its_variable_and_default_in_the_help() -> None:
    run_help = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    for setting in settings.SETTINGS:
        if setting.on_cli:
            assert setting.flag in run_help
            assert setting.env_var in " ".join(run_help.split())


def test_unknown_source_is_refused_by_the_parser() -> None:
    with pytest.raises(SystemExit):
        parse("--source", "bloomberg")


def test_dagster_home_goes_under_the_data_dir(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    home = prepare_dagster_home(data_paths(tmp_path), environ)
    assert home == tmp_path.resolve() / "dagster_home"
    assert environ["DAGSTER_HOME"] == str(home)
    config = (home / "dagster.yaml").read_text()
    assert "telemetry:\n  enabled: false" in config
    assert "nux:\n  enabled: false" in config  # no sign-up dialog over the UI
    assert "max_concurrent_runs: 1" in config  # launched runs queue: one writer at a time
    import dagster as dg

    environ_before = dict(os.environ)
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        instance = dg.DagsterInstance.get()  # the file is a valid instance config
        assert not instance.telemetry_enabled
    finally:
        os.environ.clear()
        os.environ.update(environ_before)


def test_summary_lists_sources_failures_and_warnings() -> None:
    metadata = {
        "price_source": "csv",
        "requested_source": "auto",
        "source_by_ticker": {"IREN": "csv", "CIFR": "csv"},
        "rows_landed": 10,
        "rows_fetched": 12,
        "first_date_landed": "2025-01-02",
        "last_date_landed": "2025-01-10",
        "failed_tickers": {"GLXY": "no file GLXY.csv in /x"},
        "warnings": "- **Yahoo Finance is unreachable: source 'auto' fell back to the CSV dir /x.**",
    }
    text = "\n".join(_extraction_lines(metadata))
    assert "csv: 2 tickers: CIFR IREN" in text
    assert "rows landed: 10 of 12 fetched (2025-01-02 to 2025-01-10)" in text
    assert "GLXY: no file GLXY.csv in /x" in text
    assert "WARNING Yahoo Finance is unreachable" in text


@pytest.fixture(params=["sample", "generated"])
def sample_like_dir(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The real sample exports (skipped without ../shared), then generated exports laid out like
    them (23 files: none for GLXY, KEEL's as BITF.csv; see tests/exports.py)."""
    if request.param == "sample":
        return request.getfixturevalue("sample_prices_dir")
    from tests.exports import write_sample_like_exports

    return write_sample_like_exports(
        tmp_path_factory.mktemp("sample_like_exports"),
        first_day=date(2023, 6, 1),
        last_day=date(2025, 4, 4),
    )


def run_cli(data_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return run_hashpivot(data_dir, *argv, timeout=600)


def file_closes(path: Path) -> dict[str, float]:
    """Date -> close of one sample export, read independently of the product's parser."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    close_column = "Close" if "Close" in rows[0] else "close"
    return {row["Date"][:10]: float(row[close_column]) for row in rows}


@pytest.mark.slow
def test_csv_run_lands_every_sample_row_once_into_the_warehouse(
    tmp_path: Path, sample_like_dir: Path
) -> None:
    first = run_cli(tmp_path, "--source", "csv", "--csv-dir", str(sample_like_dir))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "SUCCEEDED" in first.stdout
    assert "csv: 23 tickers" in first.stdout
    assert "GLXY: no file GLXY.csv" in first.stdout  # in the seed, not in the sample folder

    with duckdb.connect(str(data_paths(tmp_path).warehouse), read_only=True) as warehouse:
        rows = warehouse.execute(
            "select ticker, strftime(price_date, '%Y-%m-%d'), close, price_source"
            " from intermediate.int_prices__audited"
        ).fetchall()
    landed = {(ticker, day): close for ticker, day, close, _ in rows}
    assert {source for *_, source in rows} == {"csv"}
    # BITF.csv lands as KEEL (dbt_project/seeds/ticker_changes.csv).
    current = {"BITF": "KEEL"}
    expected = {
        (current.get(path.stem, path.stem), day): close
        for path in sample_like_dir.glob("*.csv")
        for day, close in file_closes(path).items()
    }
    assert len(rows) == len(expected)  # exactly once each
    assert landed == expected
    btc_days = [date.fromisoformat(day) for (ticker, day) in landed if ticker == "BTC-USD"]
    btc_file_days = [
        date.fromisoformat(day) for day in file_closes(sample_like_dir / "BTC-USD.csv")
    ]
    weekend_days = sum(day.weekday() >= 5 for day in btc_file_days)
    assert weekend_days > 100
    assert sum(day.weekday() >= 5 for day in btc_days) == weekend_days  # weekends are kept

    second = run_cli(tmp_path, "--source", "csv", "--csv-dir", str(sample_like_dir))
    assert second.returncode == 0, second.stdout[-3000:]
    assert "rows landed: 0 of" in second.stdout
    assert "published: current (nothing changed since run " in second.stdout
    landing_files = list(data_paths(tmp_path).landing_prices.glob("*.parquet"))
    assert len(landing_files) == 1


@pytest.mark.slow
def test_a_run_whose_tickers_all_fail_exits_non_zero_and_says_why(tmp_path: Path) -> None:
    empty_dir = tmp_path / "no_files"
    empty_dir.mkdir()
    result = run_cli(tmp_path / "data", "--source", "csv", "--csv-dir", str(empty_dir))
    assert result.returncode == 1
    assert "FAILED" in result.stdout
    assert "24 of 24 tickers failed" in result.stdout
    assert "no file IREN.csv" in result.stdout


class FinishedRun:
    """The parts of a Dagster run result the publish line reads: no materialization."""

    def __init__(self, success: bool) -> None:
        self.success, self.run_id = success, "this-run"

    def get_asset_materialization_events(self) -> list:
        return []


def test_the_publish_line_names_the_copy_bi_tools_read(tmp_path: Path) -> None:
    from orchestration.quality.publish import publish_marts

    paths = data_paths(tmp_path)
    assert publish_line(FinishedRun(success=False), paths) == (
        "published: NO (nothing has been published yet)"
    )
    with duckdb.connect(str(tmp_path / "w.duckdb")) as warehouse:
        warehouse.execute("create schema marts; create table marts.m as select 1 as x")
    publish_marts(
        tmp_path / "w.duckdb",
        paths.published,
        run_id="good-run",
        published_at=datetime(2026, 11, 30, 18, 45, tzinfo=UTC),
        check_summary={},
        marts=("m",),
    )
    # A successful run that published nothing: nothing changed, the last copy is current.
    assert publish_line(FinishedRun(success=True), paths) == (
        "published: current (nothing changed since run good-run published it at "
        "2026-11-30 18:45:00 UTC)"
    )
    assert publish_line(FinishedRun(success=False), paths) == (
        "published: NO (BI tools still read the copy run good-run published)"
    )


@pytest.mark.parametrize(("failed", "exit_code"), [(True, 1), (False, 0)])
def test_seeds_check_prints_the_findings_and_exits_non_zero_on_failure(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    failed: bool,
    exit_code: int,
) -> None:
    from orchestration import cli
    from orchestration.quality import seeds_check

    report = seeds_check.SeedsCheckReport(lines=["curator rules: 1 problem(s)", "  x.csv:3: bad"])
    report.failed = failed
    monkeypatch.setattr(seeds_check, "run_seeds_check", lambda: report)
    assert cli.main(["seeds", "check"]) == exit_code
    out = capsys.readouterr().out
    assert "x.csv:3: bad" in out
    assert ("FAILED" in out) is failed


@pytest.mark.slow
def test_a_folder_with_the_new_symbols_file_lands_with_no_failure_and_the_mart_shows_it(
    tmp_path: Path, sample_like_dir: Path
) -> None:
    """A folder holding KEEL.csv (no BITF.csv): the default universe lands with zero failed
    tickers and KEEL's row of the miner mart shows the close of KEEL.csv's last day."""
    folder = tmp_path / "csv"
    folder.mkdir()
    for path in sample_like_dir.glob("*.csv"):
        name = "KEEL.csv" if path.stem == "BITF" else path.name
        (folder / name).write_bytes(path.read_bytes())
    # GLXY has no sample export: a small generated file, so that no ticker fails.
    (folder / "GLXY.csv").write_text("Date,Close\n2025-04-03,20.0\n2025-04-04,21.0\n")
    result = run_cli(tmp_path / "data", "--source", "csv", "--csv-dir", str(folder))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "failed tickers: 0" in result.stdout
    keel_closes = file_closes(folder / "KEEL.csv")
    last_day = max(keel_closes)
    warehouse = data_paths(tmp_path / "data").warehouse
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        (close, tickers) = connection.execute(
            "select max(close) filter (where ticker = 'KEEL'), list(ticker order by ticker)"
            " from marts.miner_ai_pivot_performance"
        ).fetchone()
    assert close == pytest.approx(keel_closes[last_day])
    assert "KEEL" in tickers
    assert "BITF" not in tickers


def test_cli_runs_name_the_code_location_the_ui_loads() -> None:
    import yaml

    from orchestration.cli import DEFINITIONS_MODULE, JOB_NAME
    from orchestration.definitions import defs

    workspace = yaml.safe_load((Path(__file__).parents[1] / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["python_module"]["module_name"] == DEFINITIONS_MODULE
    assert defs.resolve_job_def(JOB_NAME) is not None
