"""Issue 14, item 3 (and the whole-run half of item 2): as-of dates that make sense.

Four `hashpivot run`s on generated exports of every curated ticker (2024-03-01 to 2025-03-31)
plus ZZZZ, a minimal Date,Close file of a ticker outside the seed with absurd rows:

- A: ``--universe all --as-of 2030-01-01``: clamped to the last price date, said in the summary
  and the asset metadata; ZZZZ's absurd rows are quarantined and listed in quarantined_prices;
- B: the same data dir, ``--as-of 1990-01-01``: refused, the message first after the steps,
  the published files unchanged;
- C: a fresh data dir, ``--as-of 2025-03-31`` (the last price date): the same marts as A;
- D: A's data dir with a 1e308 close appended to IREN's file: the audit blocks (no dbt).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from subprocess import CompletedProcess

import duckdb
import pytest

from tests.conftest import PROJECT_ROOT
from tests.exports import write_generated_exports
from tests.pipeline import published_fingerprint, run_hashpivot

pytestmark = pytest.mark.slow

LAST_PRICE_DATE = date(2025, 3, 31)
ABSURD_TICKER_ROWS = """Date,Close
1600-01-03,1.5
1800-01-02,1.6
2025-01-02,2.0
2025-01-03,1e308
2025-01-06,2.1
2025-01-07,2.2
"""


@dataclass(frozen=True)
class Runs:
    clamped: CompletedProcess[str]
    clamped_dir: Path
    fingerprint_after_clamped: dict[str, str]
    refused: CompletedProcess[str]
    fingerprint_after_refused: dict[str, str]
    explicit: CompletedProcess[str]
    explicit_dir: Path
    blocked: CompletedProcess[str]
    fingerprint_after_blocked: dict[str, str]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    root = tmp_path_factory.mktemp("as_of")
    csv_dir = write_generated_exports(root / "exports")
    (csv_dir / "ZZZZ.csv").write_text(ABSURD_TICKER_ROWS)
    source = ("--source", "csv", "--csv-dir", str(csv_dir), "--universe", "all")
    data = root / "data"
    clamped = run_hashpivot(data, *source, "--as-of", "2030-01-01")
    after_clamped = published_fingerprint(data / "published")
    refused = run_hashpivot(data, *source, "--as-of", "1990-01-01")
    after_refused = published_fingerprint(data / "published")
    explicit = run_hashpivot(root / "explicit", *source, "--as-of", LAST_PRICE_DATE.isoformat())
    with (csv_dir / "IREN.csv").open("a", newline="") as handle:
        csv.writer(handle).writerow(["2025-04-01", 10, 10, 10, 1e308, 10, 1000])
    blocked = run_hashpivot(data, *source, "--as-of", "2030-01-01")
    return Runs(
        clamped, data, after_clamped, refused, after_refused, explicit, root / "explicit",
        blocked, published_fingerprint(data / "published"),
    )  # fmt: skip


def first_line_after_the_steps(stdout: str) -> str:
    """What the run prints first after its header and step lines (indented)."""
    lines = stdout.splitlines()[1:]
    return next(line for line in lines if not line.startswith("  "))


def query(data_dir: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(data_dir / "published" / "marts.duckdb"), read_only=True) as db:
        return db.execute(sql).fetchall()


def comparable_columns(data_dir: Path, table: str) -> str:
    """The select list comparing two publishes of ``table``: doubles rounded to 1e-9 (a
    parallel product() may sum in another order), a quarantined row's run and file left out."""
    columns = query(
        data_dir,
        "select column_name, data_type from information_schema.columns "
        f"where table_schema = 'main' and table_name = '{table}' order by ordinal_position",
    )
    return ", ".join(
        f"round({name}, 9) as {name}" if data_type == "DOUBLE" else name
        for name, data_type in columns
        if name not in ("landing_file", "run_id", "quarantined_at")
    )


def test_an_as_of_after_the_last_price_is_clamped_and_said(runs: Runs) -> None:
    result = runs.clamped
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    warning = (
        "WARNING as-of 2030-01-01 is after the last price date 2025-03-31: every mart is as "
        "of 2025-03-31 (prices and contracts alike)"
    )
    assert warning in result.stdout
    import dagster as dg

    with dg.DagsterInstance.from_config(str(runs.clamped_dir / "dagster_home")) as instance:
        event = instance.get_latest_materialization_event(
            dg.AssetKey(["intermediate", "int_as_of_date"])
        )
    metadata = event.asset_materialization.metadata
    assert metadata["as_of_date"].value == "2025-03-31"
    assert metadata["requested_as_of_date"].value == "2030-01-01"
    assert warning.removeprefix("WARNING ") == metadata["as_of_warning"].value
    with duckdb.connect(str(runs.clamped_dir / "warehouse" / "hashpivot.duckdb")) as warehouse:
        assert warehouse.execute(
            "select as_of_date, requested_as_of_date, is_clamped from intermediate.int_as_of_date"
        ).fetchall() == [(LAST_PRICE_DATE, date(2030, 1, 1), True)]


def test_a_clamped_run_publishes_the_marts_of_the_last_price_date(runs: Runs) -> None:
    """Prices and contracts of one as-of date: the contracts announced after the last price
    (the seed has some) do not count, exactly as in a run as of the last price date."""
    assert runs.explicit.returncode == 0, runs.explicit.stdout[-4000:]
    assert "WARNING as-of" not in runs.explicit.stdout
    later = query(
        runs.clamped_dir,
        f"select count(*) from read_csv('{PROJECT_ROOT}/dbt_project/seeds/ai_hosting_contracts.csv') "
        f"where announced_on > date '{LAST_PRICE_DATE}'",
    )
    assert later[0][0] > 0  # else this test could not tell clamped from not clamped
    published = [
        name
        for (name,) in query(
            runs.clamped_dir,
            "select table_name from information_schema.tables "
            "where table_schema = 'main' and table_name not like '\\_%' escape '\\'",
        )
    ]
    assert "miner_ai_pivot_performance" in published
    other = runs.explicit_dir / "published" / "marts.duckdb"
    for table in published:
        rows = comparable_columns(runs.clamped_dir, table)
        differences = query(
            runs.clamped_dir,
            f"attach '{other}' as explicit (read_only); "
            f"select count(*) from ((select {rows} from {table} except all "
            f"select {rows} from explicit.{table}) union all (select {rows} from "
            f"explicit.{table} except all select {rows} from {table}))",
        )
        assert differences == [(0,)], table
    counts = query(
        runs.clamped_dir,
        "select sum(ai_contract_count), max(as_of_date) from miner_ai_pivot_performance",
    )
    assert counts[0][1] <= LAST_PRICE_DATE
    (announcement_rows,) = query(
        runs.clamped_dir, "select count(*) from fct_contract_announcement_returns"
    )
    assert announcement_rows[0] == counts[0][0]


def test_an_as_of_before_the_first_price_is_refused_before_publishing(runs: Runs) -> None:
    result = runs.refused
    assert result.returncode == 1, result.stdout[-4000:]
    first = first_line_after_the_steps(result.stdout)
    assert first.startswith("FAILED at step hashpivot_dbt_assets: dbt model int_as_of_date: "), (
        result.stdout
    )
    assert "as-of 1990-01-01 refused: it is before the first price" in first
    assert "choose a date on or after 2024-03-01" in first
    assert runs.fingerprint_after_refused == runs.fingerprint_after_clamped
    assert "published: NO" in result.stdout


def test_absurd_rows_of_a_ticker_outside_the_seed_are_quarantined(runs: Runs) -> None:
    """Dates of 1600 (which pandas cannot hold) and 1800, and a close of 1e308, of a ticker
    outside the seed: set aside and listed in quarantined_prices, never in the other marts."""
    rows = query(
        runs.clamped_dir,
        "select date::varchar, close, broken_rules from quarantined_prices where ticker = 'ZZZZ' "
        "order by date",
    )
    assert rows == [
        ("1600-01-03", 1.5, "date_not_before_1900"),
        ("1800-01-02", 1.6, "date_not_before_1900"),
        ("2025-01-03", 1e308, "close_not_above_1e7,adj_close_not_above_1e7"),
    ]
    kept = query(
        runs.clamped_dir, "select date::varchar from fct_daily_prices where ticker = 'ZZZZ'"
    )
    assert sorted(kept) == [("2025-01-02",), ("2025-01-06",), ("2025-01-07",)]
    assert query(runs.clamped_dir, "select max(abs(close)) < 1e7 from fct_daily_prices") == [
        (True,)
    ]


def test_a_1e308_close_of_a_curated_ticker_blocks_and_publishes_nothing(runs: Runs) -> None:
    result = runs.blocked
    assert result.returncode == 1, result.stdout[-4000:]
    first = first_line_after_the_steps(result.stdout)
    assert first.startswith("FAILED: quality/ledger_accepted:gx_raw_prices_critical blocked"), first
    assert "IREN 2025-04-01 close=1e+308 [close_not_above_1e7: close=1e+308" in first
    assert runs.fingerprint_after_blocked == runs.fingerprint_after_clamped


def test_a_model_error_becomes_the_step_failure_message(tmp_path: Path) -> None:
    import json

    from orchestration.transform.dbt import first_model_error

    results = tmp_path / "run_results.json"
    assert first_model_error(results) is None
    message = (
        "Runtime Error in model int_as_of_date (models/intermediate/int_as_of_date.sql)\n"
        "  Invalid Input Error: as-of 1990-01-01 refused: it is before the first price"
    )
    results.write_text(
        json.dumps(
            {
                "results": [
                    {"unique_id": "test.hashpivot.not_null_x", "status": "fail", "message": "1"},
                    {"unique_id": "model.hashpivot.int_as_of_date", "status": "error",
                     "message": message},
                ]
            }
        )
    )  # fmt: skip
    assert first_model_error(results) == (
        "dbt model int_as_of_date: as-of 1990-01-01 refused: it is before the first price"
    )
