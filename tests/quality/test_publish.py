"""Atomic publishing: new copies replace old ones whole, a failure leaves the old bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from orchestration.quality.assets import gate_failures, required_checks
from orchestration.quality.publish import publish_marts
from tests.pipeline import published_fingerprint

MARTS = ("prices", "performance")
NOW = datetime(2026, 11, 27, tzinfo=UTC)


def make_warehouse(path: Path, rows: int, marts=MARTS) -> Path:
    with duckdb.connect(str(path)) as warehouse:
        warehouse.execute("create schema marts")
        for mart in marts:
            warehouse.execute(
                f"create table marts.{mart} as select range as id, 'csv' as price_source "
                f"from range({rows})"
            )
    return path


def publish(warehouse: Path, published: Path, run_id: str, marts=MARTS):
    return publish_marts(
        warehouse,
        published,
        run_id=run_id,
        published_at=NOW,
        check_summary={"c": True},
        marts=marts,
    )


def test_publish_writes_a_duckdb_file_parquet_files_and_the_run_log(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "w.duckdb", rows=5)
    report = publish(warehouse, tmp_path / "published", "run-1")
    assert report.row_counts == {"prices": 5, "performance": 5}
    with duckdb.connect(str(report.duckdb_path), read_only=True) as published:
        assert published.execute("select count(*) from performance").fetchall() == [(5,)]
        runs = published.execute("select run_id, price_sources from _published_runs").fetchall()
    assert runs == [("run-1", "")]  # no fct_daily_prices among these marts
    parquet = tmp_path / "published" / "parquet"
    assert parquet.is_symlink()
    assert duckdb.sql(f"select count(*) from '{parquet / 'prices.parquet'}'").fetchall() == [(5,)]


def test_each_publish_appends_to_the_run_log_and_keeps_two_versions(tmp_path: Path) -> None:
    published = tmp_path / "published"
    for number in range(1, 4):
        warehouse = make_warehouse(tmp_path / f"w{number}.duckdb", rows=number)
        publish(warehouse, published, f"run-{number}")
    with duckdb.connect(str(published / "marts.duckdb"), read_only=True) as copy:
        assert [r[0] for r in copy.execute("select run_id from _published_runs").fetchall()] == [
            "run-1", "run-2", "run-3"
        ]  # fmt: skip
        assert copy.execute("select count(*) from prices").fetchall() == [(3,)]
    assert sorted(p.name for p in (published / "versions").iterdir()) == ["run-2", "run-3"]
    assert (published / "parquet").resolve().name == "run-3"


def test_a_failed_publish_leaves_the_previous_copy_byte_for_byte(tmp_path: Path) -> None:
    published = tmp_path / "published"
    publish(make_warehouse(tmp_path / "good.duckdb", rows=4), published, "good")
    before = published_fingerprint(published)
    broken = make_warehouse(
        tmp_path / "broken.duckdb", rows=9, marts=("prices",)
    )  # one mart missing
    with pytest.raises(duckdb.CatalogException):
        publish(broken, published, "broken")
    assert published_fingerprint(published) == before
    assert not list(published.glob(".*tmp"))
    assert not (published / "versions" / "broken").exists()


def test_publishing_needs_every_required_check_to_have_passed_in_the_run() -> None:
    required = ["a:critical", "b:critical"]
    assert gate_failures({"a:critical": True, "b:critical": True, "c:warn": False}, required) == []
    assert gate_failures({"a:critical": True, "b:critical": False}, required) == [
        "b:critical failed"
    ]
    assert gate_failures({"a:critical": True}, required) == ["b:critical did not run in this run"]
    assert "landed_prices:gx_raw_prices_critical" in required_checks()
    assert (
        "marts/miner_ai_pivot_performance:gx_mart_miner_ai_pivot_performance_critical"
        in required_checks()
    )
