"""Atomic publishing: new copies replace old ones whole, a failure leaves the old bytes."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from orchestration.paths import PublishedPaths
from orchestration.quality.assets import gate_failures, required_checks
from orchestration.quality.publish import publish_marts, published_copy_is_readable
from orchestration.transform.contract import RowStamps
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


def publish(warehouse: Path, published: Path, run_id: str, marts=MARTS, row_stamps=None):
    return publish_marts(
        warehouse,
        PublishedPaths(published),
        run_id=run_id,
        published_at=NOW,
        check_summary={"c": True},
        marts=marts,
        row_stamps=row_stamps,
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


class PriceWarehouse:
    """A warehouse shaped like the pipeline's: ``intermediate.prices`` stamps each row with the
    build that wrote it (``built_at``), and ``marts.fct_daily_prices`` is a view over it. Each
    ``build`` does what the incremental price model does: per ticker, the rows from its first
    changed date on are deleted and written again with the build's stamp."""

    def __init__(self, path: Path) -> None:
        self.path, self.builds = path, 0
        with duckdb.connect(str(path)) as warehouse:
            warehouse.execute("create schema intermediate")
            warehouse.execute("create schema marts")
            warehouse.execute(
                "create table intermediate.prices (ticker varchar, price_date date, "
                "close double, price_source varchar, built_at timestamptz)"
            )
            warehouse.execute(
                "create view marts.fct_daily_prices as select ticker, price_date as date, "
                "close, price_source from intermediate.prices"
            )

    def build(self, days: int, tickers=("AAA", "BBB"), revise=None, full_refresh=False) -> Path:
        """``days`` days per ticker from 2025-01-01, close 100 + day number; ``revise`` sets the
        close of (ticker, day number) to 999. A full refresh rebuilds and stamps every row."""
        self.builds += 1
        stamp = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=self.builds)
        wanted = {
            (ticker, date(2025, 1, 1) + timedelta(days=day)): 999.0
            if revise == (ticker, day)
            else 100.0 + day
            for ticker in tickers
            for day in range(days)
        }
        with duckdb.connect(str(self.path)) as warehouse:
            held = {
                (ticker, day): close
                for ticker, day, close in warehouse.execute(
                    "select ticker, price_date, close from intermediate.prices"
                ).fetchall()
            }
            if full_refresh:
                warehouse.execute("delete from intermediate.prices")
                tails = {ticker: date.min for ticker, _ in wanted}
            else:
                tails = {}
                for key in wanted.keys() | held.keys():
                    if wanted.get(key) != held.get(key):
                        ticker, day = key
                        tails[ticker] = min(day, tails.get(ticker, date.max))
            for ticker, from_day in tails.items():
                warehouse.execute(
                    "delete from intermediate.prices where ticker = ? and price_date >= ?",
                    [ticker, from_day],
                )
            rows = [
                (ticker, day, close, "csv", stamp)
                for (ticker, day), close in wanted.items()
                if ticker in tails and day >= tails[ticker]
            ]
            if rows:
                warehouse.executemany(
                    "insert into intermediate.prices values (?, ?, ?, ?, ?)", rows
                )
        return self.path

    def delete_unstamped(self, ticker: str, before_day: int) -> Path:
        """Rows gone without a rebuild of their ticker's tail (as a demo ticker's rows before
        its first real price): no stamp says so."""
        with duckdb.connect(str(self.path)) as warehouse:
            warehouse.execute(
                "delete from intermediate.prices where ticker = ? and price_date < ?",
                [ticker, date(2025, 1, 1) + timedelta(days=before_day)],
            )
        return self.path


PRICE_ROW_STAMPS = {"fct_daily_prices": RowStamps("intermediate.prices", "price_date", "built_at")}


def publish_prices(warehouse: Path, published: Path, run_id: str):
    return publish(warehouse, published, run_id, ("fct_daily_prices",), PRICE_ROW_STAMPS)


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


@pytest.fixture
def replaced_whole(monkeypatch) -> list[bool]:
    """Per publish of the daily prices, whether the table was copied whole (True) or only its
    rows built since the last publish were replaced (False)."""
    from orchestration.quality import publish as publishing

    calls: list[bool] = []
    original = publishing._replace_rows_built_since

    def recording(*args):
        changed_years = original(*args)
        calls.append(changed_years is None)
        return changed_years

    monkeypatch.setattr(publishing, "_replace_rows_built_since", recording)
    return calls


@pytest.mark.parametrize(
    ("next_build", "whole"),
    [
        ({"days": 101}, False),  # one new day: only its rows are replaced
        ({"days": 101, "tickers": ("AAA", "BBB", "CCC")}, False),  # a new ticker comes whole
        # A full refresh that dropped a ticker: its rows are left behind, the counts differ.
        ({"days": 100, "tickers": ("AAA",), "full_refresh": True}, True),
        ({"days": 101, "revise": ("AAA", 3)}, False),  # an old revision: AAA's tail from day 3
        ({"days": 101, "revise": ("BBB", 95)}, False),  # a recent revision
        ({"days": 100}, False),  # nothing built: nothing replaced
    ],
)
def test_the_published_daily_prices_always_equal_the_warehouse(
    tmp_path: Path, next_build: dict, whole: bool, replaced_whole: list[bool]
) -> None:
    published = tmp_path / "published"
    warehouse = PriceWarehouse(tmp_path / "w.duckdb")
    publish_prices(warehouse.build(days=100), published, "run-1")
    report = publish_prices(warehouse.build(**next_build), published, "run-2")
    assert published_prices(published) == warehouse_prices(warehouse.path)
    assert report.row_counts["fct_daily_prices"] == len(warehouse_prices(warehouse.path))
    assert parquet_prices(published) == warehouse_prices(warehouse.path)
    # run-1 had no published copy to start from.
    assert replaced_whole == [True, whole]


def test_rows_deleted_without_a_stamp_make_the_counts_differ_and_the_table_is_copied_whole(
    tmp_path: Path, replaced_whole: list[bool]
) -> None:
    published = tmp_path / "published"
    warehouse = PriceWarehouse(tmp_path / "w.duckdb")
    publish_prices(warehouse.build(days=100), published, "run-1")
    warehouse.build(days=101)
    publish_prices(warehouse.delete_unstamped("AAA", before_day=10), published, "run-2")
    assert replaced_whole == [True, True]
    assert published_prices(published) == warehouse_prices(warehouse.path)
    assert parquet_prices(published) == warehouse_prices(warehouse.path)


def test_the_published_file_records_the_newest_stamp_it_holds(tmp_path: Path) -> None:
    published = tmp_path / "published"
    warehouse = PriceWarehouse(tmp_path / "w.duckdb")
    publish_prices(warehouse.build(days=10), published, "run-1")
    publish_prices(warehouse.build(days=11), published, "run-2")
    with duckdb.connect(str(published / "marts.duckdb"), read_only=True) as copy:
        recorded = copy.execute("select * from _published_row_stamps").fetchall()
    # The second build's stamp: the first plus an hour.
    assert recorded == [("fct_daily_prices", datetime(2026, 1, 1, 2, tzinfo=UTC))]


def partition_files(published: Path, run_id: str) -> dict[str, Path]:
    root = published / "versions" / run_id / "parquet" / "fct_daily_prices"
    return {str(path.relative_to(root)): path for path in sorted(root.rglob("*.parquet"))}


def test_a_new_day_rewrites_only_its_years_partition_and_links_the_others(tmp_path: Path) -> None:
    published = tmp_path / "published"
    warehouse = PriceWarehouse(tmp_path / "w.duckdb")
    # 2025-01-01 plus 800 days reaches 2027-03-11: three yearly partitions.
    publish_prices(warehouse.build(days=800), published, "run-1")
    publish_prices(warehouse.build(days=801), published, "run-2")

    before, after = partition_files(published, "run-1"), partition_files(published, "run-2")
    assert sorted(after) == sorted(before)
    assert {name.split("/")[0] for name in after} == {"year=2025", "year=2026", "year=2027"}
    for name, path in after.items():
        same_file = path.stat().st_ino == before[name].stat().st_ino
        assert same_file == (not name.startswith("year=2027")), name
    assert parquet_prices(published) == warehouse_prices(warehouse.path)


def test_an_old_revision_rewrites_the_partitions_from_its_year_on(tmp_path: Path) -> None:
    published = tmp_path / "published"
    warehouse = PriceWarehouse(tmp_path / "w.duckdb")
    publish_prices(warehouse.build(days=800), published, "run-1")
    # Day 400 is in 2026: AAA's rows from then on are rebuilt, so 2026 and 2027 are rewritten.
    publish_prices(warehouse.build(days=800, revise=("AAA", 400)), published, "run-2")
    before, after = partition_files(published, "run-1"), partition_files(published, "run-2")
    for name, path in after.items():
        same_file = path.stat().st_ino == before[name].stat().st_ino
        assert same_file == name.startswith("year=2025"), name
    assert parquet_prices(published) == warehouse_prices(warehouse.path)
    assert published_prices(published) == warehouse_prices(warehouse.path)


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
