"""Whole-pipeline runs of the quality gate: poisoned inputs fail loudly and leave the published
copy byte-for-byte as it was; BI readers never see an error while the pipeline writes.

Each case runs the pipeline in a subprocess from a copy of the project (so a case can poison
a seed) against a copy of a data dir that already holds a clean publish."""

from __future__ import annotations

import csv
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.exports import write_generated_exports
from tests.pipeline import (
    clean_environ,
    hashpivot_command,
    published_fingerprint,
    run_hashpivot,
)

pytestmark = pytest.mark.slow

POISONED_TICKER = "IREN"
LAST_CLEAN_DAY = date(2025, 3, 31)


def copy_project(target: Path) -> Path:
    """The parts of the project a run needs, without generated files."""
    ignore = shutil.ignore_patterns("target", "logs", "__pycache__", ".user.yml")
    for part in ("orchestration", "dbt_project", "expectations"):
        shutil.copytree(PROJECT_ROOT / part, target / part, ignore=ignore)
    return target


def run_pipeline(project: Path, data_dir: Path, csv_dir: Path) -> subprocess.CompletedProcess[str]:
    return run_hashpivot(data_dir, "--source", "csv", "--csv-dir", str(csv_dir), project=project)


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gate")
    project = copy_project(root / "project")
    csv_dir = root / "csv"
    write_generated_exports(csv_dir, last_day=LAST_CLEAN_DAY, quirky=False)
    result = run_pipeline(project, root / "data", csv_dir)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "published: yes" in result.stdout
    assert "data quality:" in result.stdout
    assert (root / "data" / "quality" / "data_docs" / "index.html").exists()
    return {"root": root, "project": project, "csv": csv_dir, "data": root / "data"}


def append_row(csv_dir: Path, values: list[str]) -> None:
    with (csv_dir / f"{POISONED_TICKER}.csv").open("a") as handle:
        handle.write(",".join(values) + "\n")


def edit_seed(project: Path, seed: str, change: Callable[[list[dict[str, str]]], None]) -> None:
    path = project / "dbt_project" / "seeds" / f"{seed}.csv"
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)
    change(rows)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def set_first_contract(**values: str) -> Callable[[list[dict[str, str]]], None]:
    return lambda rows: rows[0].update(values)


NEXT_DAY = "2025-04-01"
PRICE_CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "negative price": (
        lambda d: append_row(d, [NEXT_DAY, "10", "11", "9", "-5", "-5", "100"]),
        "close_positive",
    ),
    "nan price": (
        lambda d: append_row(d, [NEXT_DAY, "10", "11", "9", "nan", "nan", "100"]),
        "line 2",
    ),
    "duplicate dates": (
        lambda d: append_row(d, [str(LAST_CLEAN_DAY), "10", "11", "9", "10", "10", "1"]),
        "duplicate",
    ),
    "future date": (
        lambda d: append_row(d, ["2031-01-02", "10", "11", "9", "10", "10", "100"]),
        "date_not_in_future",
    ),
    "high below low": (
        lambda d: append_row(d, [NEXT_DAY, "10", "8", "9", "10", "10", "100"]),
        "high_not_below_low",
    ),
    "malformed csv": (lambda d: append_row(d, [NEXT_DAY, "abc"]), f"{POISONED_TICKER}.csv line"),
    "empty file": (lambda d: (d / f"{POISONED_TICKER}.csv").write_text(""), "no data rows"),
}
SEED_CASES: dict[str, tuple[str, Callable[[list[dict[str, str]]], None], str]] = {
    "unknown ticker in contracts": ("ai_hosting_contracts", set_first_contract(ticker="NOPE"), "relationships_ai_hosting_contracts_ticker"),
    "negative MW": ("ai_hosting_contracts", set_first_contract(it_mw="-100"), "it_mw_positive"),
    "contract announced in the future": ("ai_hosting_contracts", set_first_contract(announced_on="2031-01-01"), "not_announced_in_the_future"),
    "term of zero years": ("ai_hosting_contracts", set_first_contract(term_years="0"), "term_years_positive"),
    "injection ticker": (
        "companies",
        lambda rows: rows.append({**rows[0], "ticker": "X'; DROP TABLE t; --"}),
        "ticker_is_a_symbol",
    ),
}  # fmt: skip


def assert_failed_and_nothing_published(
    result: subprocess.CompletedProcess[str], expected: str, published: Path, before: dict
) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, result.stdout[-3000:]
    assert "FAILED" in result.stdout
    assert "published: NO" in result.stdout
    assert expected in result.stdout, result.stdout[-4000:]
    # The first line after the step lines says what failed, before the rest of the summary.
    after_steps = next(line for line in result.stdout.splitlines()[1:] if not line.startswith("  "))
    assert after_steps.startswith("FAILED"), result.stdout[-4000:]
    assert published_fingerprint(published) == before, "the published copy changed"
    assert "Traceback" not in result.stdout, output[-3000:]


@pytest.mark.parametrize("case", sorted(PRICE_CASES))
def test_poisoned_prices_fail_loudly_and_publish_nothing(
    clean_run, tmp_path: Path, case: str
) -> None:
    poison, expected = PRICE_CASES[case]
    data, csv_dir = tmp_path / "data", tmp_path / "csv"
    shutil.copytree(clean_run["data"], data, symlinks=True)
    shutil.copytree(clean_run["csv"], csv_dir)
    before = published_fingerprint(data / "published")
    poison(csv_dir)
    result = run_pipeline(clean_run["project"], data, csv_dir)
    assert_failed_and_nothing_published(result, expected, data / "published", before)


@pytest.mark.parametrize("case", sorted(SEED_CASES))
def test_poisoned_seeds_fail_loudly_and_publish_nothing(
    clean_run, tmp_path: Path, case: str
) -> None:
    seed, change, expected = SEED_CASES[case]
    project, data = copy_project(tmp_path / "project"), tmp_path / "data"
    shutil.copytree(clean_run["data"], data, symlinks=True)
    before = published_fingerprint(data / "published")
    edit_seed(project, seed, change)
    result = run_pipeline(project, data, clean_run["csv"])
    assert_failed_and_nothing_published(result, expected, data / "published", before)


def test_a_clean_rerun_after_a_failure_publishes_again(clean_run, tmp_path: Path) -> None:
    data, csv_dir = tmp_path / "data", tmp_path / "csv"
    shutil.copytree(clean_run["data"], data, symlinks=True)
    shutil.copytree(clean_run["csv"], csv_dir)
    append_row(csv_dir, [NEXT_DAY, "10", "11", "9", "-5", "-5", "100"])
    assert run_pipeline(clean_run["project"], data, csv_dir).returncode != 0
    # The source corrects the row: the revision lands, supersedes the bad row and publishes.
    lines = (csv_dir / f"{POISONED_TICKER}.csv").read_text().splitlines()
    lines[-1] = f"{NEXT_DAY},10,11,9,10.5,10.5,100"
    (csv_dir / f"{POISONED_TICKER}.csv").write_text("\n".join(lines) + "\n")
    result = run_pipeline(clean_run["project"], data, csv_dir)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "published: yes" in result.stdout
    import duckdb

    with duckdb.connect(str(data / "published" / "marts.duckdb"), read_only=True) as published:
        close = published.execute(
            "select close from fct_daily_prices where ticker = ? and date = ?",
            [POISONED_TICKER, NEXT_DAY],
        ).fetchall()
        runs = published.execute("select count(*) from _published_runs").fetchall()
    assert close == [(10.5,)]
    assert runs == [(2,)]


def test_bi_reads_the_published_copy_while_the_pipeline_writes(clean_run, tmp_path: Path) -> None:
    """SQLAlchemy + duckdb-engine, as Superset connects, querying again and again during a run."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    data, csv_dir = tmp_path / "data", tmp_path / "csv"
    shutil.copytree(clean_run["data"], data, symlinks=True)
    shutil.copytree(clean_run["csv"], csv_dir)
    append_row(csv_dir, [NEXT_DAY, "10", "11", "9", "10", "10", "100"])  # new data to publish
    engine = create_engine(
        f"duckdb:///{data / 'published' / 'marts.duckdb'}",
        connect_args={"read_only": True},
        poolclass=NullPool,
    )
    log_path = tmp_path / "pipeline.log"  # a file, not a pipe: a full pipe would stall the run
    with log_path.open("w") as log:
        pipeline = subprocess.Popen(
            hashpivot_command(data, "--source", "csv", "--csv-dir", str(csv_dir)),
            cwd=clean_run["project"],
            env=clean_environ(clean_run["project"]),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    queries, errors = 0, []
    deadline = time.monotonic() + 900
    while pipeline.poll() is None and time.monotonic() < deadline:
        try:
            with engine.connect() as connection:
                connection.execute(
                    text("select count(*) from miner_ai_pivot_performance")
                ).scalar_one()
                connection.execute(text("select count(*) from _published_runs")).scalar_one()
            queries += 1
        except Exception as error:  # every error counts: the test is that there are none
            errors.append(repr(error))
        time.sleep(0.2)
    pipeline.wait(timeout=60)
    assert pipeline.returncode == 0, log_path.read_text()[-4000:]
    assert errors == []
    assert queries > 20
    with engine.connect() as connection:  # the new publish is visible to a new connection
        assert connection.execute(text("select count(*) from _published_runs")).scalar_one() == 2
