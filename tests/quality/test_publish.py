"""Atomic publishing: new copies replace old ones whole, a failure leaves the old bytes."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from orchestration.paths import PublishedPaths
from orchestration.quality.assets import gate_failures, required_checks
from orchestration.quality.publish import publish_marts, published_copy_is_readable
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
        PublishedPaths(published),
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
    assert (published / "parquet").resolve() == published / "versions" / "run-3" / "parquet"
    assert (
        published / "marts.duckdb"
    ).resolve() == published / "versions" / "run-3" / "marts.duckdb"


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
    assert sorted(path.name for path in (published / "versions").iterdir()) == ["good"]


def test_publishing_needs_every_required_check_to_have_passed_in_the_run() -> None:
    required = ["a:critical", "b:critical"]
    assert gate_failures({"a:critical": True, "b:critical": True, "c:warn": False}, required) == []
    assert gate_failures({"a:critical": True, "b:critical": False}, required) == [
        "b:critical failed"
    ]
    assert gate_failures({"a:critical": True}, required) == ["b:critical did not run in this run"]
    assert "quality/ledger_accepted:gx_raw_prices_critical" in required_checks()
    assert (
        "marts/miner_ai_pivot_performance:gx_mart_miner_ai_pivot_performance_critical"
        in required_checks()
    )


def make_price_warehouse(path: Path, days: int, tickers=("AAA", "BBB"), revise=None) -> Path:
    """A warehouse with marts.fct_daily_prices of ``days`` days per ticker; ``revise`` sets
    the close of (ticker, day number) to 999."""
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as warehouse:
        warehouse.execute("create schema marts")
        warehouse.execute(
            """
            create table marts.fct_daily_prices as
            select ticker, date '2025-01-01' + cast(day as integer) as date,
                   100.0 + day as close, 'csv' as price_source
            from unnest(?) as t(ticker), range(?) as r(day)
            """,
            [list(tickers), days],
        )
        if revise:
            ticker, day = revise
            warehouse.execute(
                "update marts.fct_daily_prices set close = 999 "
                "where ticker = ? and date = date '2025-01-01' + ?",
                [ticker, day],
            )
    return path


def published_prices(published: Path) -> list[tuple]:
    with duckdb.connect(str(published / "marts.duckdb"), read_only=True) as copy:
        return copy.execute("select * from fct_daily_prices order by ticker, date").fetchall()


def parquet_prices(published: Path) -> list[tuple]:
    """The Parquet copy of the daily prices (a folder per year), as BI tools read it."""
    files = published / "parquet" / "fct_daily_prices" / "**" / "*.parquet"
    return duckdb.sql(
        f"select * exclude (year) from read_parquet('{files}', hive_partitioning = true) "
        "order by ticker, date"
    ).fetchall()


def warehouse_prices(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as source:
        return source.execute(
            "select * from marts.fct_daily_prices order by ticker, date"
        ).fetchall()


@pytest.mark.parametrize(
    "next_warehouse",
    [
        {"days": 101},  # one new day: only the recent rows are replaced
        {"days": 101, "tickers": ("AAA", "BBB", "CCC")},  # a new ticker comes whole
        {"days": 100, "tickers": ("AAA",)},  # a ticker the warehouse dropped goes
        {"days": 101, "revise": ("AAA", 3)},  # a revision older than the recent window
        {"days": 101, "revise": ("BBB", 95)},  # a revision inside it
    ],
)
def test_the_published_daily_prices_always_equal_the_warehouse(
    tmp_path: Path, next_warehouse: dict
) -> None:
    marts = ("fct_daily_prices",)
    published = tmp_path / "published"
    publish(make_price_warehouse(tmp_path / "w.duckdb", days=100), published, "run-1", marts)
    warehouse = make_price_warehouse(tmp_path / "w.duckdb", **next_warehouse)
    report = publish(warehouse, published, "run-2", marts)
    assert published_prices(published) == warehouse_prices(warehouse)
    assert report.row_counts["fct_daily_prices"] == len(warehouse_prices(warehouse))
    assert parquet_prices(published) == warehouse_prices(warehouse)


def test_recent_rows_are_replaced_in_place_when_that_gives_the_same_table(
    tmp_path: Path, monkeypatch
) -> None:
    from orchestration.quality import publish as publishing

    replaced_whole = []
    original = publishing._refresh_recent_rows
    monkeypatch.setattr(
        publishing,
        "_refresh_recent_rows",
        lambda out, mart: replaced_whole.append(not (done := original(out, mart))) or done,
    )
    marts = ("fct_daily_prices",)
    published = tmp_path / "published"
    publish(make_price_warehouse(tmp_path / "w.duckdb", days=100), published, "run-1", marts)
    publish(make_price_warehouse(tmp_path / "w.duckdb", days=101), published, "run-2", marts)
    old_revision = make_price_warehouse(tmp_path / "w.duckdb", days=102, revise=("AAA", 3))
    publish(old_revision, published, "run-3", marts)
    # run-1 had nothing to refresh; run-2 refreshed in place; run-3's old revision was caught
    # by the comparison and the table replaced whole.
    assert replaced_whole == [True, False, True]
    assert published_prices(published) == warehouse_prices(old_revision)


def partition_files(published: Path, run_id: str) -> dict[str, Path]:
    root = published / "versions" / run_id / "parquet" / "fct_daily_prices"
    return {str(path.relative_to(root)): path for path in sorted(root.rglob("*.parquet"))}


def test_a_new_day_rewrites_only_its_years_partition_and_links_the_others(tmp_path: Path) -> None:
    marts = ("fct_daily_prices",)
    published = tmp_path / "published"
    # 2025-01-01 plus 800 days reaches 2027-03-11: three yearly partitions.
    publish(make_price_warehouse(tmp_path / "w.duckdb", days=800), published, "run-1", marts)
    warehouse = make_price_warehouse(tmp_path / "w.duckdb", days=801)
    publish(warehouse, published, "run-2", marts)

    before, after = partition_files(published, "run-1"), partition_files(published, "run-2")
    assert sorted(after) == sorted(before)
    assert {name.split("/")[0] for name in after} == {"year=2025", "year=2026", "year=2027"}
    for name, path in after.items():
        same_file = path.stat().st_ino == before[name].stat().st_ino
        assert same_file == (not name.startswith("year=2027")), name
    assert parquet_prices(published) == warehouse_prices(warehouse)


def test_an_old_revision_rewrites_every_partition(tmp_path: Path) -> None:
    marts = ("fct_daily_prices",)
    published = tmp_path / "published"
    publish(make_price_warehouse(tmp_path / "w.duckdb", days=800), published, "run-1", marts)
    warehouse = make_price_warehouse(tmp_path / "w.duckdb", days=801, revise=("AAA", 3))
    publish(warehouse, published, "run-2", marts)
    before, after = partition_files(published, "run-1"), partition_files(published, "run-2")
    assert all(path.stat().st_ino != before[name].stat().st_ino for name, path in after.items())
    assert parquet_prices(published) == warehouse_prices(warehouse)


def test_both_formats_show_one_version_and_its_run_log_names_it(tmp_path: Path) -> None:
    published = tmp_path / "published"
    for number in (1, 2):
        publish(
            make_warehouse(tmp_path / f"w{number}.duckdb", rows=number), published, f"r{number}"
        )
    version = (published / "current").resolve()
    assert (published / "marts.duckdb").resolve().parent == version
    assert (published / "parquet").resolve().parent == version
    with duckdb.connect(str(published / "marts.duckdb"), read_only=True) as copy:
        (last_run,) = copy.execute(
            "select run_id from _published_runs order by published_at desc, rowid desc limit 1"
        ).fetchall()[0]
        (rows,) = copy.execute("select count(*) from prices").fetchall()[0]
    assert last_run == version.name == "r2"
    parquet = published / "parquet" / "prices.parquet"
    assert duckdb.sql(f"select count(*) from '{parquet}'").fetchall() == [(rows,)]


def test_what_a_killed_publish_left_is_removed_and_the_last_good_version_kept(
    tmp_path: Path,
) -> None:
    published = tmp_path / "published"
    publish(make_warehouse(tmp_path / "w1.duckdb", rows=1), published, "good")
    # A publish killed while building, and one killed after its rename but before the switch.
    (published / "versions" / ".killed.building" / "parquet").mkdir(parents=True)
    (published / "versions" / ".killed.building" / "marts.duckdb").write_bytes(b"half")
    (published / "versions" / "unswitched").mkdir()
    assert (published / "current").resolve().name == "good"

    publish(make_warehouse(tmp_path / "w2.duckdb", rows=2), published, "next")

    assert sorted(path.name for path in (published / "versions").iterdir()) == ["good", "next"]
    assert (published / "current").resolve().name == "next"


def test_a_data_dir_published_with_flat_files_moves_to_versions_in_one_publish(
    tmp_path: Path,
) -> None:
    published = tmp_path / "published"
    publish(make_warehouse(tmp_path / "w1.duckdb", rows=1), published, "old")
    # The layout before versions held both formats: a plain DuckDB file and a parquet link.
    old_version = published / "versions" / "old"
    for path in ("current", "marts.duckdb"):
        (published / path).unlink()
    shutil.move(old_version / "marts.duckdb", published / "marts.duckdb")
    for file in (old_version / "parquet").iterdir():
        shutil.move(file, old_version / file.name)
    (old_version / "parquet").rmdir()
    (published / "parquet").unlink()
    (published / "parquet").symlink_to(Path("versions") / "old")

    publish(make_warehouse(tmp_path / "w2.duckdb", rows=2), published, "new")

    assert (published / "marts.duckdb").is_symlink()
    with duckdb.connect(str(published / "marts.duckdb"), read_only=True) as copy:
        runs = [row[0] for row in copy.execute("select run_id from _published_runs").fetchall()]
        assert copy.execute("select count(*) from prices").fetchall() == [(2,)]
    assert runs == ["old", "new"]
    assert (published / "parquet" / "prices.parquet").is_file()


def test_a_damaged_published_file_is_rebuilt_whole_and_reported(tmp_path: Path) -> None:
    published = tmp_path / "published"
    publish(make_warehouse(tmp_path / "w1.duckdb", rows=3), published, "good")
    assert published_copy_is_readable(PublishedPaths(published))
    in_use = (published / "marts.duckdb").resolve()
    in_use.write_bytes(in_use.read_bytes()[:4096])  # truncated
    assert not published_copy_is_readable(PublishedPaths(published))

    report = publish(make_warehouse(tmp_path / "w2.duckdb", rows=4), published, "healed")

    assert report.damaged_previous == in_use
    assert published_copy_is_readable(PublishedPaths(published))
    with duckdb.connect(str(published / "marts.duckdb"), read_only=True) as copy:
        assert copy.execute("select count(*) from prices").fetchall() == [(4,)]
        assert copy.execute("select run_id from _published_runs").fetchall() == [("healed",)]


def test_a_missing_parquet_folder_makes_the_copy_unreadable(tmp_path: Path) -> None:
    published = tmp_path / "published"
    publish(make_warehouse(tmp_path / "w1.duckdb", rows=3), published, "good")
    shutil.rmtree((published / "parquet").resolve())
    assert not published_copy_is_readable(PublishedPaths(published))
