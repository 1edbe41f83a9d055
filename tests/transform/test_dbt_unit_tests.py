"""The dbt unit tests (known-answer tests of the formulas) run here, not in the pipeline's
`dbt build` (which excludes them: they cannot fail because of new data).

On a fresh data dir: one accepted landing file (the raw price view needs a file to read), an
`--empty` build of everything else (the unit tests take their inputs' column types from the
warehouse), then `dbt test --select test_type:unit`; every unit test of the manifest must pass.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from orchestration.extract.sources.demo import generate_demo_prices
from orchestration.paths import data_paths
from orchestration.quality.ledger import record_audit
from tests.landing_files import write_landing_file
from tests.transform.dbt_runner import run_dbt, run_results


def empty_warehouse(tmp_path: Path) -> None:
    """An `--empty` build of every seed and model (tables with their columns, no rows)."""
    paths = data_paths(tmp_path)
    fetched_at = datetime(2026, 1, 5, 22, tzinfo=UTC)
    landed = write_landing_file(
        generate_demo_prices(["IREN"], date(2025, 1, 2), date(2025, 1, 3)),
        paths.landing_prices,
        price_source="demo",
        run_id="extract-1",
        fetched_at=fetched_at,
    )
    record_audit(
        paths.ledger,
        accepted=[landed],
        quarantined=pd.DataFrame(),
        run_id="audit-1",
        audited_at=fetched_at,
    )
    run_dbt(tmp_path, "build", "--empty", "--resource-type", "seed", "--resource-type", "model")


def test_every_dbt_unit_test_passes(tmp_path: Path) -> None:
    empty_warehouse(tmp_path)

    run_dbt(tmp_path, "test", "--select", "test_type:unit")

    manifest = json.loads((tmp_path / "dbt_target" / "manifest.json").read_text())
    expected = set(manifest["unit_tests"])
    results = {r["unique_id"]: r["status"] for r in run_results(tmp_path)}
    assert len(expected) >= 12
    assert set(results) == expected
    failed = {unique_id: status for unique_id, status in results.items() if status != "pass"}
    assert not failed


def test_not_null_columns_fails_on_a_null_in_any_listed_column(tmp_path: Path) -> None:
    empty_warehouse(tmp_path)
    warehouse = str(data_paths(tmp_path).warehouse)
    select = ["--select", "test_name:not_null_columns,companies"]
    with duckdb.connect(warehouse) as connection:
        connection.execute(
            "insert into seeds.companies (ticker, name, segment, source_url, as_of_date) values "
            "('AAA', 'A', 'bitcoin_miner', 'https://a', date '2026-01-01'), "
            "('BBB', 'B', null, 'https://b', date '2026-01-01')"
        )
    failing = run_dbt(tmp_path, "test", *select, check=False)
    assert failing.returncode != 0
    (result,) = run_results(tmp_path)
    assert (result["status"], result["failures"]) == ("fail", 1)

    with duckdb.connect(warehouse) as connection:
        connection.execute("update seeds.companies set segment = 'other' where ticker = 'BBB'")
    run_dbt(tmp_path, "test", *select)
    (result,) = run_results(tmp_path)
    assert result["status"] == "pass"


def test_the_price_tests_check_the_latest_builds_rows_against_the_whole_table(
    tmp_path: Path,
) -> None:
    """A duplicate key fails the uniqueness test when the latest build wrote one of its rows,
    and is not looked for among rows only earlier builds wrote (checked by those builds)."""
    empty_warehouse(tmp_path)
    warehouse = str(data_paths(tmp_path).warehouse)
    select = ["--select", "test_name:unique_combination_of_columns,int_prices__daily_returns"]
    insert = (
        "insert into intermediate.int_prices__daily_returns "
        "(ticker, price_date, price_source, built_at) values (?, ?, 'csv', ?)"
    )
    earlier, latest = "2026-01-05 22:00:00+00", "2026-01-06 22:00:00+00"
    with duckdb.connect(warehouse) as connection:
        # An earlier build's duplicate, and the latest build's own rows, all distinct keys.
        for row in [
            ("OLD", "2025-01-02", earlier),
            ("OLD", "2025-01-02", earlier),
            ("NEW", "2025-01-02", latest),
            ("NEW", "2025-01-03", latest),
        ]:
            connection.execute(insert, row)
    run_dbt(tmp_path, "test", *select)
    (result,) = run_results(tmp_path)
    assert result["status"] == "pass"

    with duckdb.connect(warehouse) as connection:
        # The latest build writes a key an earlier build already holds.
        connection.execute(insert, ("NEW", "2025-01-01", earlier))
        connection.execute(insert, ("NEW", "2025-01-01", latest))
    failing = run_dbt(tmp_path, "test", *select, check=False)
    assert failing.returncode != 0
    (result,) = run_results(tmp_path)
    assert (result["status"], result["failures"]) == ("fail", 1)
