"""The local DuckDB copy of a Spark warehouse: which relations, with which types and values."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from orchestration.transform.spark_copy import (
    SparkRelation,
    copy_spark_warehouse,
    relations_to_copy,
)


def test_relations_to_copy_keeps_tables_and_the_marts_views():
    relations = [
        SparkRelation("staging", "stg_a", True),
        SparkRelation("intermediate", "int_view", True),
        SparkRelation("intermediate", "int_table", False),
        SparkRelation("marts", "fct_view", True),
        SparkRelation("seeds", "companies", False),
    ]
    kept = [r.qualified for r in relations_to_copy(relations)]
    assert kept == ["intermediate.int_table", "marts.fct_view", "seeds.companies"]


@pytest.fixture(scope="module")
def spark_tables(local_spark):
    session = local_spark.session
    for schema in ("staging", "intermediate", "marts", "seeds"):
        session.sql(f"create database if not exists {schema}")
    session.sql("drop table if exists intermediate.prices")
    session.sql(
        """
        create table intermediate.prices using parquet as
        select * from values
            ('BRK-B', date'2024-01-02', 1.5D, cast(null as double), 3L,
             timestamp'2024-01-02 21:00:00'),
            ('^TNX', date'2024-01-03', -0.25D, 1e-12D, 4L, timestamp'2024-01-03 21:00:00')
            as t(ticker, date, close, daily_return, volume, built_at)
        """
    )
    session.sql("create or replace view staging.stg_prices as select * from intermediate.prices")
    session.sql(
        "create or replace view marts.fct_prices as "
        "select ticker, date, close, daily_return from intermediate.prices"
    )
    return local_spark


@pytest.mark.parametrize("through", ["parquet", "arrow"])
def test_copy_holds_the_spark_rows_with_duckdb_types(spark_tables, tmp_path, through):
    export_dir = tmp_path / "export" if through == "parquet" else None
    target = tmp_path / "copy.duckdb"
    counts = copy_spark_warehouse(spark_tables.session, target, export_dir=export_dir)

    assert counts["intermediate.prices"] == 2
    assert counts["marts.fct_prices"] == 2
    assert "staging.stg_prices" not in counts
    assert not (tmp_path / "copy.duckdb.building").exists()
    with duckdb.connect(str(target), read_only=True) as copy:
        types = dict(
            copy.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'intermediate' and table_name = 'prices'"
            ).fetchall()
        )
        rows = copy.execute(
            "select ticker, date, close, daily_return, volume, built_at "
            "from intermediate.prices order by ticker"
        ).fetchall()
    assert types == {
        "ticker": "VARCHAR",
        "date": "DATE",
        "close": "DOUBLE",
        "daily_return": "DOUBLE",
        "volume": "BIGINT",
        "built_at": "TIMESTAMP WITH TIME ZONE",
    }
    assert rows[0][:5] == ("BRK-B", dt.date(2024, 1, 2), 1.5, None, 3)
    assert rows[1][:5] == ("^TNX", dt.date(2024, 1, 3), -0.25, 1e-12, 4)
    # Spark's session is in UTC: the instant survives the trip.
    assert rows[0][5] == dt.datetime(2024, 1, 2, 21, tzinfo=dt.UTC)


def test_a_second_copy_replaces_the_first(spark_tables, tmp_path):
    target = tmp_path / "copy.duckdb"
    copy_spark_warehouse(spark_tables.session, target, export_dir=tmp_path / "x")
    spark_tables.session.sql("create or replace view marts.extra as select 1 as one")
    try:
        counts = copy_spark_warehouse(spark_tables.session, target, export_dir=tmp_path / "x")
    finally:
        spark_tables.session.sql("drop view marts.extra")
    assert counts["marts.extra"] == 1
    with duckdb.connect(str(target), read_only=True) as copy:
        assert copy.execute("select * from marts.extra").fetchall() == [(1,)]


class _FailingCopyEngine:
    """What copy_from_spark reads of the run's Spark, for a Spark that died mid-build."""

    local = False
    warehouse_dir = None
    session = None


class _RecordingLog:
    def __init__(self):
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def info(self, message: str) -> None:
        pass


class _StepContext:
    def __init__(self):
        self.log = _RecordingLog()


@pytest.mark.parametrize("build_failed", [True, False])
def test_a_failed_copy_after_a_failed_build_leaves_dbts_error_to_the_step(
    build_failed, tmp_path, monkeypatch
):
    from orchestration.transform import spark_copy
    from orchestration.transform.dbt import copy_from_spark

    def spark_is_gone(*args, **kwargs):
        raise ConnectionError("Spark Connect at sc://127.0.0.1:15002 is unreachable")

    monkeypatch.setattr(spark_copy, "copy_spark_warehouse", spark_is_gone)
    context = _StepContext()
    if build_failed:
        copy_from_spark(_FailingCopyEngine(), tmp_path / "copy.duckdb", context, build_failed=True)
        assert context.log.warnings == [
            "after the failed dbt build, copying Spark's tables failed too: "
            "Spark Connect at sc://127.0.0.1:15002 is unreachable"
        ]
    else:
        with pytest.raises(ConnectionError, match="unreachable"):
            copy_from_spark(_FailingCopyEngine(), tmp_path / "copy.duckdb", context)
