"""The published file opens in the DuckDB 1.x that BI tools embed, after a first publish and after
a publish on top of it, and shows every mart with the warehouse's row counts."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from orchestration.paths import PublishedPaths, data_paths
from orchestration.quality.assets import PUBLISHED_MARTS
from orchestration.quality.publish import (
    BI_STORAGE_VERSION,
    publish_marts,
    storage_version,
)
from tests.bi_readers import BI_DUCKDB_VERSIONS, ReaderError, row_counts_read_by
from tests.pipeline import run_hashpivot

MARTS = ("fct_daily_prices", "miner_ai_pivot_performance")


def make_warehouse(path: Path, days: int) -> Path:
    """A warehouse with a daily-price mart (published by its recent rows) and a small mart."""
    first = date(2025, 1, 1)
    with duckdb.connect(str(path)) as warehouse:
        warehouse.execute("create schema marts")
        warehouse.execute(
            """
            create table marts.fct_daily_prices as
            select ticker, ?::date + day::int as date, 10.0 + day as close, 'csv' as price_source
            from (values ('IREN'), ('BRK-B'), ('^TNX')) as t(ticker), range(?) as r(day)
            """,
            [first, days],
        )
        warehouse.execute(
            "create table marts.miner_ai_pivot_performance as "
            "select 'IREN' as ticker, 0.5::double as return_1y, now() as computed_at"
        )
    return path


def warehouse_counts(warehouse: Path, marts=PUBLISHED_MARTS) -> dict[str, int]:
    """Row counts of the published marts in the warehouse (some are views there)."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return {
            mart: connection.execute(f"select count(*) from marts.{mart}").fetchone()[0]
            for mart in marts
        }


def publish(warehouse: Path, published: Path, run_id: str) -> Path:
    report = publish_marts(
        warehouse,
        PublishedPaths(published),
        run_id=run_id,
        published_at=datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=len(run_id)),
        check_summary={"check": True},
        marts=MARTS,
    )
    return report.duckdb_path


def assert_every_reader_sees(
    database: Path, expected: dict[str, int], runs: int, stamped_marts: int = 0
) -> None:
    for version in BI_DUCKDB_VERSIONS:
        counts = row_counts_read_by(version, database)
        assert counts.pop("_published_runs") == runs, version
        # A row per mart published by its changed rows (the pipeline's daily prices).
        assert counts.pop("_published_row_stamps") == stamped_marts, version
        assert counts == expected, version


def test_1x_readers_open_a_first_and_a_second_publish(tmp_path: Path) -> None:
    published = tmp_path / "published"
    first = publish(make_warehouse(tmp_path / "w1.duckdb", days=40), published, "run-1")
    assert storage_version(first) == BI_STORAGE_VERSION
    assert_every_reader_sees(first, warehouse_counts(tmp_path / "w1.duckdb", MARTS), runs=1)

    # A day more: the second publish copies the first forward and replaces its recent rows.
    second = publish(make_warehouse(tmp_path / "w2.duckdb", days=41), published, "run-2")
    assert storage_version(second) == BI_STORAGE_VERSION
    assert_every_reader_sees(second, warehouse_counts(tmp_path / "w2.duckdb", MARTS), runs=2)


def test_a_published_file_in_the_2_0_format_is_rebuilt_keeping_its_run_log(tmp_path: Path) -> None:
    published = tmp_path / "published"
    published.mkdir()
    left_by_an_earlier_version = published / "marts.duckdb"
    with duckdb.connect(str(left_by_an_earlier_version)) as old:  # DuckDB 2.0's own format
        old.execute("create table stale_mart as select 1 as x")
        old.execute(
            "create table _published_runs (run_id varchar, published_at timestamptz, "
            "row_counts json, price_sources varchar, check_summary json)"
        )
        old.execute(
            "insert into _published_runs values ('old-run', '2026-01-01', '{}', 'csv', '{}')"
        )
    assert storage_version(left_by_an_earlier_version) != BI_STORAGE_VERSION
    with pytest.raises(ReaderError, match="version number"):
        row_counts_read_by(BI_DUCKDB_VERSIONS[0], left_by_an_earlier_version)

    rebuilt = publish(make_warehouse(tmp_path / "w.duckdb", days=5), published, "run-1")

    assert storage_version(rebuilt) == BI_STORAGE_VERSION
    assert_every_reader_sees(rebuilt, warehouse_counts(tmp_path / "w.duckdb", MARTS), runs=2)
    with duckdb.connect(str(rebuilt), read_only=True) as copy:
        runs = copy.execute("select run_id from _published_runs order by published_at").fetchall()
    assert runs == [("old-run",), ("run-1",)]


@pytest.mark.slow
def test_1x_readers_open_the_pipelines_first_and_second_publish(published_run, tmp_path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(published_run.data_dir, data_dir, symlinks=True)
    paths = data_paths(data_dir)
    assert_every_reader_sees(
        paths.published.duckdb, warehouse_counts(paths.warehouse), runs=1, stamped_marts=1
    )

    # Another as-of date changes what dbt builds, so the run publishes on top of the first copy.
    second = run_hashpivot(
        data_dir,
        "--source",
        "csv",
        "--csv-dir",
        str(published_run.csv_dir),
        "--as-of",
        "2025-03-03",
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "published: yes" in second.stdout
    assert storage_version(paths.published.duckdb) == BI_STORAGE_VERSION
    assert_every_reader_sees(
        paths.published.duckdb, warehouse_counts(paths.warehouse), runs=2, stamped_marts=1
    )
