"""Every block has a way out: a row or a file that blocks the audit stops blocking once it is
removed from the source, and what the block's message points at is true.

One data dir, three whole runs (shared by the tests, module-scoped), CSV source with
``--universe all``:
1. a year of the curated tickers' exports plus a zero close (IREN), a date in 2099 (CIFR), a
   non-curated ``BRK B.csv`` whose rows all break ``ticker_is_a_symbol`` (more than the 1%
   quarantine share) and a clean non-curated ``OTHR.csv``: the audit blocks;
2. the two rows and ``BRK B.csv`` removed: the run publishes;
3. ``OTHR.csv`` removed: the run publishes without OTHR;
then `make run` offline and a demo run (nothing lands), and a demo landing file as an earlier
version let it land (the data dir mixed): the next run sets the demo prices aside.
Landing files are hashed after every run: none is ever rewritten.
"""

from __future__ import annotations

import csv
import hashlib
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from orchestration.extract.sources.demo import generate_demo_prices
from orchestration.extract.universe import load_companies
from orchestration.paths import COMPANIES_SEED
from tests.exports import write_generated_exports
from tests.landing_files import write_landing_file
from tests.pipeline import published_fingerprint, run_hashpivot

pytestmark = pytest.mark.slow

FIRST_DAY, LAST_DAY = date(2024, 4, 1), date(2025, 3, 31)
ZERO_CLOSE = ("IREN", "2025-04-01", ["2025-04-01", "10", "11", "9", "0", "0", "100"])
FUTURE_DATE = ("CIFR", "2099-12-31", ["2099-12-31", "10", "11", "9", "10.5", "10.5", "100"])
BAD_FILE, BAD_TICKER, BAD_ROWS = "BRK B.csv", "BRK B", 120
CLEAN_FILE, CLEAN_TICKER = "OTHR.csv", "OTHR"


def hash_landing(data: Path) -> dict[str, str]:
    """SHA-256 of every file under landing/ (prices and retractions), by relative path."""
    landing = data / "landing"
    return {
        str(path.relative_to(landing)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(landing.rglob("*.parquet"))
        if not path.name.startswith(".")
    }


def write_other(path: Path, rows: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Date", "Close"])
        for day in range(rows):
            writer.writerow([date.fromordinal(FIRST_DAY.toordinal() + day).isoformat(), 20 + day])


def remove_line(path: Path, starts_with: str) -> None:
    lines = path.read_text().splitlines()
    kept = [line for line in lines if not line.startswith(starts_with)]
    assert len(kept) == len(lines) - 1
    path.write_text("\n".join(kept) + "\n")


def run(data: Path, csv_dir: Path, universe: str = "all") -> subprocess.CompletedProcess[str]:
    return run_hashpivot(
        data, "--source", "csv", "--csv-dir", str(csv_dir), "--universe", universe, timeout=900
    )


def published_rows(data: Path, sql: str, *parameters) -> list[tuple]:
    with duckdb.connect(str(data / "published" / "marts.duckdb"), read_only=True) as published:
        return published.execute(sql, list(parameters)).fetchall()


@pytest.fixture(scope="module")
def way_out(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("way_out")
    data, csv_dir = root / "data", root / "csv"
    write_generated_exports(csv_dir, first_day=FIRST_DAY, last_day=LAST_DAY, quirky=False)
    for ticker, _, row in (ZERO_CLOSE, FUTURE_DATE):
        with (csv_dir / f"{ticker}.csv").open("a") as handle:
            handle.write(",".join(row) + "\n")
    write_other(csv_dir / BAD_FILE, BAD_ROWS)
    write_other(csv_dir / CLEAN_FILE, 30)
    blocked = run(data, csv_dir)
    hashes = [hash_landing(data)]
    for ticker, day, _ in (ZERO_CLOSE, FUTURE_DATE):
        remove_line(csv_dir / f"{ticker}.csv", day)
    (csv_dir / BAD_FILE).unlink()
    # Recovered by a default-universe run (the README's `make run` path): a removed file's
    # rows are retracted whatever the universe.
    recovered = run(data, csv_dir, universe="seeds")
    hashes.append(hash_landing(data))
    recovered_other = (
        published_rows(data, "select count(*) from fct_daily_prices where ticker = ?", CLEAN_TICKER)
        if recovered.returncode == 0
        else None
    )
    (csv_dir / CLEAN_FILE).unlink()
    removed = run(data, csv_dir)
    hashes.append(hash_landing(data))
    # Then `make run` (source auto, Yahoo unreachable) and a demo run into this real data dir.
    published_before = published_fingerprint(data / "published")
    auto = run_hashpivot(data, timeout=900)
    demo = run_hashpivot(data, "--source", "demo", timeout=900)
    published_after = published_fingerprint(data / "published")
    demo_landed = sorted((data / "landing" / "prices").glob("*__demo__*.parquet"))
    # A data dir an earlier version mixed: demo prices of every curated ticker, running past
    # the real ones. The next `make run` sets them all aside and publishes the real ones alone.
    tickers = [company.ticker for company in load_companies(COMPANIES_SEED)]
    demo_days = generate_demo_prices(tickers, LAST_DAY, LAST_DAY + timedelta(days=20))
    write_landing_file(
        demo_days,
        data / "landing" / "prices",
        price_source="demo",
        run_id="earlier-version",
        fetched_at=datetime.now(UTC),
    )
    mixed = run_hashpivot(data, timeout=900)
    return {
        "mixed": mixed,
        "demo_landed": demo_landed,
        "auto": auto,
        "demo": demo,
        "published_before": published_before,
        "published_after": published_after,
        "data": data,
        "blocked": blocked,
        "recovered": recovered,
        "recovered_other": recovered_other,
        "removed": removed,
        "hashes": hashes,
    }


def assert_published(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert "published: yes" in result.stdout, result.stdout[-5000:]


def test_a_curated_zero_close_blocks_and_removing_the_row_recovers(way_out) -> None:
    blocked = way_out["blocked"]
    assert blocked.returncode != 0
    assert "published: NO" in blocked.stdout
    ticker, day, _ = ZERO_CLOSE
    # The message names the row and the rule, and says what to do.
    assert f"{ticker} {day}" in blocked.stdout, blocked.stdout[-5000:]
    assert "close_positive" in blocked.stdout
    assert "fix or remove" in blocked.stdout
    assert_published(way_out["recovered"])
    assert (
        published_rows(
            way_out["data"],
            "select close from fct_daily_prices where ticker = ? and date = ?",
            ticker,
            day,
        )
        == []
    )
    assert published_rows(
        way_out["data"],
        "select count(*) from fct_daily_prices where ticker = ? and close <= 0",
        ticker,
    ) == [(0,)]


def test_a_curated_date_in_2099_blocks_and_removing_the_row_recovers(way_out) -> None:
    blocked = way_out["blocked"]
    ticker, day, _ = FUTURE_DATE
    assert f"{ticker} {day}" in blocked.stdout, blocked.stdout[-5000:]
    assert "date_not_in_future" in blocked.stdout
    assert_published(way_out["recovered"])
    assert published_rows(
        way_out["data"], "select max(date) from fct_daily_prices where ticker = ?", ticker
    ) == [(LAST_DAY,)]


def test_a_non_curated_file_over_the_quarantine_share_blocks_named_and_removing_it_recovers(
    way_out,
) -> None:
    blocked = way_out["blocked"]
    # The message names the ticker with its count, and where the rows can be inspected.
    assert f"{BAD_TICKER} ({BAD_ROWS}" in blocked.stdout, blocked.stdout[-5000:]
    blocked_rows = sorted((way_out["data"] / "quality" / "blocked").glob("*.parquet"))
    assert blocked_rows, "the message's pointer to the blocked rows leads nowhere"
    assert str(blocked_rows[-1].relative_to(way_out["data"])) in blocked.stdout
    with duckdb.connect() as connection:
        (count,) = connection.execute(
            "select count(*) from read_parquet(?) where ticker = ?",
            [str(blocked_rows[-1]), BAD_TICKER],
        ).fetchone()
    assert count == BAD_ROWS
    recovered = way_out["recovered"]
    assert_published(recovered)
    assert published_rows(
        way_out["data"], "select count(*) from fct_daily_prices where ticker = ?", BAD_TICKER
    ) == [(0,)]
    assert published_rows(
        way_out["data"], "select count(*) from quarantined_prices where ticker = ?", BAD_TICKER
    ) == [(0,)]
    # A removed non-curated file that had been published stops counting too.
    assert way_out["recovered_other"] == [(30,)]
    assert_published(way_out["removed"])
    assert published_rows(
        way_out["data"], "select count(*) from fct_daily_prices where ticker = ?", CLEAN_TICKER
    ) == [(0,)]
    assert published_rows(
        way_out["data"], "select count(*) from fct_daily_prices where ticker = 'IREN'"
    ) != [(0,)]


def test_landing_files_are_never_rewritten(way_out) -> None:
    first, second, third = way_out["hashes"]
    assert first, "the blocked run landed nothing"
    for earlier, later in ((first, second), (second, third)):
        assert {name: later.get(name) for name in earlier} == earlier
    # The removals were recorded as new immutable files, not by changing old ones.
    assert len(second) > len(first)
    assert len(third) > len(second)


def test_demo_prices_never_go_into_a_data_dir_of_real_prices(way_out) -> None:
    """`make run` offline after CSV runs lands nothing and exits 0; `--source demo` is refused
    in one line; the published marts stay as they were."""
    auto = way_out["auto"]
    assert auto.returncode == 0, auto.stdout[-3000:] + auto.stderr[-3000:]
    assert "Yahoo Finance is unreachable and this data dir holds real prices (csv)" in auto.stdout
    assert "published: current" in auto.stdout, auto.stdout[-3000:]
    demo = way_out["demo"]
    assert demo.returncode != 0
    refusals = [line for line in demo.stdout.splitlines() if "--source demo refused" in line]
    assert refusals, demo.stdout[-3000:]
    assert "holds real prices (csv)" in refusals[0]
    assert "another --data-dir" in refusals[0]
    assert way_out["published_after"] == way_out["published_before"]
    assert way_out["demo_landed"] == []


def test_a_data_dir_mixed_with_demo_prices_recovers_on_its_next_run(way_out) -> None:
    mixed = way_out["mixed"]
    assert_published(mixed)
    assert "set aside the demo prices of" in mixed.stdout, mixed.stdout[-3000:]
    assert published_rows(
        way_out["data"],
        "select count(*) filter (where price_source = 'demo'), max(date) from fct_daily_prices",
    ) == [(0, LAST_DAY)]
    assert published_rows(
        way_out["data"], "select distinct price_source from miner_ai_pivot_performance"
    ) in ([("csv",)], [("csv",), (None,)], [(None,), ("csv",)])
