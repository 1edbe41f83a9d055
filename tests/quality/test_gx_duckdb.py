"""The DuckDB adapter of GX's SQL datasource (orchestration/quality/gx_duckdb.py).

These tests pin GX 1.24's behaviour on DuckDB: they fail when an upgrade changes it, both when
the adapter stops working (exact counts below) and when stock GX starts working without it
(then the adapter can go).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import duckdb
import pytest

from orchestration.quality.gx_duckdb import duckdb_sql_adapter


@pytest.fixture(scope="module")
def gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    warnings.filterwarnings("ignore", module="great_expectations")
    import great_expectations

    return great_expectations


def _table(tmp_path: Path) -> Path:
    tmp_path.mkdir(exist_ok=True)
    database = tmp_path / "small.duckdb"
    with duckdb.connect(str(database)) as connection:
        # 100 rows; every 10th close is negative (10 rows), one ticker is lower case.
        connection.execute(
            """
            create table prices as
            select case when i = 7 then 'abc' else 'T' || (i % 5) end as ticker,
                date '2024-01-01' + i::int as date,
                case when i % 10 = 0 then -1.0 else i + 1.0 end as close
            from range(100) r(i)
            """
        )
    return database


def _validate(gx, database: Path) -> dict[str, object]:
    """{rule: result} of a suite with passing and failing expectations on the table."""
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_sql("small", connection_string=f"duckdb:///{database}")
    batch = source.add_table_asset("prices", table_name="prices").add_batch_definition_whole_table(
        "all"
    )
    expectations = gx.expectations
    suite = context.suites.add(
        gx.ExpectationSuite(
            name="small",
            expectations=[
                expectations.ExpectColumnValuesToNotBeNull(column="close", meta={"rule": "nn"}),
                expectations.ExpectColumnValuesToBeBetween(
                    column="close", min_value=0, strict_min=True, meta={"rule": "positive"}
                ),
                expectations.ExpectColumnValuesToMatchRegex(
                    column="ticker", regex="^[A-Z0-9]+$", meta={"rule": "symbol"}
                ),
            ],
        )
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="small", data=batch, suite=suite)
    )
    result = definition.run(
        result_format={"result_format": "SUMMARY", "unexpected_index_column_names": ["date"]}
    )
    return {item.expectation_config.meta["rule"]: item for item in result.results}


def test_the_adapter_makes_gx_validate_duckdb_with_exact_counts(gx, tmp_path: Path) -> None:
    database = _table(tmp_path)
    with duckdb_sql_adapter():
        results = _validate(gx, database)
    assert results["nn"].success is True
    assert results["nn"].result["unexpected_count"] == 0
    assert results["positive"].success is False
    assert results["positive"].result["unexpected_count"] == 10
    assert [
        row["date"].isoformat()
        for row in results["positive"].result["partial_unexpected_index_list"][:2]
    ] == ["2024-01-01", "2024-01-11"]
    assert results["symbol"].success is False
    assert results["symbol"].result["unexpected_count"] == 1


def test_without_the_adapter_every_metric_fails(gx, tmp_path: Path) -> None:
    """Stock GX 1.24 on DuckDB: nothing is measured, even a rule the data meets fails. When an
    upgrade makes this test fail, GX handles DuckDB itself: drop the adapter."""
    results = _validate(gx, _table(tmp_path))
    for rule in ("nn", "positive", "symbol"):
        assert results[rule].success is False
        assert "unexpected_count" not in results[rule].result
        messages = [
            str(info.get("exception_message"))
            for info in (results[rule].exception_info or {}).values()
            if isinstance(info, dict)
        ]
        assert messages, rule
    # Leaving the adapter's block restores stock GX.
    with duckdb_sql_adapter():
        pass
    results = _validate(gx, _table(tmp_path / "again"))
    assert "unexpected_count" not in results["positive"].result


def test_the_adapter_releases_the_database_file(gx, tmp_path: Path) -> None:
    """GX keeps its connection open; after the adapter's block, another process-wide writer
    (dbt, the publish) must be able to open the file."""
    database = _table(tmp_path)
    with duckdb_sql_adapter():
        _validate(gx, database)
    with duckdb.connect(str(database), config={"memory_limit": "256MB"}) as writer:
        writer.execute("insert into prices values ('X', date '2025-01-01', 1.0)")
