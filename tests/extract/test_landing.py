from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from orchestration.extract import landing
from orchestration.extract.landed import landed_files, read_watermarks, remove_stale_temporary_files
from orchestration.extract.landing import LandedBatch
from orchestration.extract.sources.demo import generate_demo_prices
from tests.conftest import PROJECT_ROOT
from tests.landing_files import LANDING_SCHEMA, land_frame, read_latest_landed, write_landing_file

FETCHED_AT = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)


def demo_rows(tickers=("IREN",), start=date(2025, 1, 1), end=date(2025, 1, 31)) -> pd.DataFrame:
    frame = generate_demo_prices(list(tickers), start, end)
    frame["price_source"] = "demo"
    return frame


def test_landing_file_carries_provenance_and_values(tmp_path: Path) -> None:
    prices = demo_rows()
    path = land_frame(prices, tmp_path, "run-1", fetched_at=FETCHED_AT).path
    assert path is not None
    table = pq.read_table(path).to_pandas()
    assert path.name == "20261127T220000000000Z__demo__run-1.parquet"
    assert set(table["run_id"]) == {"run-1"}
    assert set(table["price_source"]) == {"demo"}
    assert (table["fetched_at"] == pd.Timestamp(FETCHED_AT)).all()
    np.testing.assert_array_equal(table["close"].to_numpy(), prices["close"].to_numpy())
    assert table["date"].iloc[0] == date(2025, 1, 1)


def test_a_landing_file_is_never_overwritten(tmp_path: Path) -> None:
    land_frame(demo_rows(), tmp_path, "r", fetched_at=FETCHED_AT)
    before = landed_files(tmp_path)[0].read_bytes()
    with pytest.raises(FileExistsError, match="append-only"):
        land_frame(demo_rows(["CIFR"]), tmp_path, "r", fetched_at=FETCHED_AT)
    assert landed_files(tmp_path)[0].read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_write_that_fails_midway_leaves_no_landed_file(tmp_path: Path, monkeypatch) -> None:
    def crash_before_the_file_is_durable(path) -> None:
        assert Path(path).stat().st_size > 0  # the temporary file was written
        raise OSError("disk full")

    monkeypatch.setattr(landing, "fsync_file", crash_before_the_file_is_durable)
    with pytest.raises(OSError, match="disk full"):
        land_frame(demo_rows(), tmp_path, "r", fetched_at=FETCHED_AT)
    assert landed_files(tmp_path) == []
    assert read_watermarks(tmp_path, demo=True) == {}


def test_a_run_killed_mid_landing_leaves_nothing_a_later_run_reads(tmp_path: Path) -> None:
    """SIGKILL a real process while it is writing a landing file, then land again."""
    marker = tmp_path / "writing"
    child = textwrap.dedent(
        f"""
        import time
        from datetime import UTC, date, datetime
        from pathlib import Path
        from orchestration.extract.sources.demo import generate_demo_prices
        from orchestration.extract import landing
        from tests.landing_files import land_frame

        def hang_before_linking(path):  # the temporary file is on disk, not yet linked
            Path({str(marker)!r}).touch()
            time.sleep(600)

        landing.fsync_file = hang_before_linking
        frame = generate_demo_prices(["IREN"], date(2025, 1, 1), date(2025, 3, 1))
        frame["price_source"] = "demo"
        land_frame(
            frame, Path({str(tmp_path / "landing")!r}), "killed", fetched_at=datetime.now(UTC)
        )
        """
    )
    process = subprocess.Popen([sys.executable, "-c", child], cwd=PROJECT_ROOT)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, "the writer exited before it was killed"
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)

    landing_dir = tmp_path / "landing"
    assert list(landing_dir.glob(".*.tmp")), "the killed writer should have left its temp file"
    assert landed_files(landing_dir) == []
    assert read_watermarks(landing_dir, demo=True) == {}

    assert len(remove_stale_temporary_files(landing_dir)) == 1
    land_frame(demo_rows(), landing_dir, "next", fetched_at=FETCHED_AT)
    assert read_watermarks(landing_dir, demo=True) == {"IREN": date(2025, 1, 31)}


def test_watermarks_are_kept_apart_for_demo_and_real_rows(tmp_path: Path) -> None:
    write_landing_file(
        demo_rows(), tmp_path, price_source="demo", run_id="a", fetched_at=FETCHED_AT
    )
    real = demo_rows(end=date(2025, 1, 10))
    real["price_source"] = "csv"
    write_landing_file(
        real,
        tmp_path,
        price_source="csv",
        run_id="b",
        fetched_at=datetime(2026, 11, 28, tzinfo=UTC),
    )
    assert read_watermarks(tmp_path, demo=True) == {"IREN": date(2025, 1, 31)}
    assert read_watermarks(tmp_path, demo=False) == {"IREN": date(2025, 1, 10)}


def test_latest_fetch_wins_per_ticker_and_date(tmp_path: Path) -> None:
    first = demo_rows(end=date(2025, 1, 10))
    write_landing_file(first, tmp_path, price_source="demo", run_id="a", fetched_at=FETCHED_AT)
    revised = first[first["date"] == "2025-01-10"].copy()
    revised["close"] = 123.0
    later = datetime(2026, 11, 28, tzinfo=UTC)
    write_landing_file(revised, tmp_path, price_source="demo", run_id="b", fetched_at=later)

    latest = read_latest_landed(tmp_path, ["IREN"], since=date(2025, 1, 9))
    assert list(latest.sort_values("date")["close"]) == [
        first.loc[first["date"] == "2025-01-09", "close"].item(),
        123.0,
    ]


def land(fetched: pd.DataFrame, landing_dir: Path, run_id: str, windows=None) -> LandedBatch:
    return land_frame(
        fetched, landing_dir, run_id, fetched_at=datetime(2026, 11, 28, tzinfo=UTC), windows=windows
    )


def test_only_new_and_revised_rows_are_landed(tmp_path: Path) -> None:
    landed = demo_rows(end=date(2025, 1, 10))
    landed.loc[0, "volume"] = np.nan
    landing_dir = tmp_path / "landing"
    write_landing_file(landed, landing_dir, price_source="demo", run_id="a", fetched_at=FETCHED_AT)
    fetched = demo_rows(start=date(2025, 1, 6), end=date(2025, 1, 14))
    fetched.loc[fetched["date"] == "2025-01-08", "close"] += 0.5  # a revision
    fetched.loc[fetched["date"] == "2025-01-09", "price_source"] = "csv"  # another source
    batch = land(fetched, landing_dir, "b")
    assert batch.path is not None
    written = pq.read_table(batch.path).to_pandas()
    assert [d.strftime("%m-%d") for d in written["date"]] == [
        "01-08", "01-09", "01-13", "01-14"
    ]  # fmt: skip
    assert batch.rows_by_ticker == {"IREN": 4}
    assert (batch.first_date, batch.last_date) == (date(2025, 1, 8), date(2025, 1, 14))
    assert written.loc[1, "price_source"] == "csv"
    assert written.loc[0, "close"] == fetched.loc[fetched["date"] == "2025-01-08", "close"].item()


def test_missing_values_fetched_twice_are_not_a_revision(tmp_path: Path) -> None:
    landed = demo_rows(end=date(2025, 1, 3))
    landed["volume"] = np.nan
    landing_dir = tmp_path / "landing"
    write_landing_file(landed, landing_dir, price_source="demo", run_id="a", fetched_at=FETCHED_AT)
    batch = land(landed.copy(), landing_dir, "b")
    assert batch.path is None
    assert batch.rows == 0
    assert len(landed_files(landing_dir)) == 1  # nothing new: no empty file either


def test_rows_outside_the_fetch_window_are_not_landed(tmp_path: Path) -> None:
    fetched = demo_rows(tickers=("IREN", "CIFR"), end=date(2025, 1, 14))
    windows = {"IREN": date(2025, 1, 10), "CIFR": None}  # and WULF was not asked for
    extra = demo_rows(tickers=("WULF",), end=date(2025, 1, 3))
    batch = land(pd.concat([fetched, extra]), tmp_path / "landing", "a", windows)
    written = pq.read_table(batch.path).to_pandas()
    assert set(written["ticker"]) == {"IREN", "CIFR"}
    assert written.loc[written["ticker"] == "IREN", "date"].min() == date(2025, 1, 10)
    assert batch.rows_by_ticker["CIFR"] == (fetched["ticker"] == "CIFR").sum()


def test_landing_files_have_the_landing_schema_and_are_sorted(tmp_path: Path) -> None:
    fetched = demo_rows(tickers=("WULF", "IREN", "CIFR"))
    batch = land(fetched.sample(frac=1.0, random_state=1), tmp_path / "landing", "a")
    # Names and types (DuckDB marks columns without NULLs as required, which readers ignore).
    written_schema = pq.read_schema(batch.path)
    assert [(f.name, f.type) for f in written_schema] == [(f.name, f.type) for f in LANDING_SCHEMA]
    written = pq.read_table(batch.path).to_pandas()
    assert list(zip(written["ticker"], written["date"], strict=True)) == sorted(
        zip(written["ticker"], written["date"], strict=True)
    )
    assert set(written["run_id"]) == {"a"}
    assert (written["fetched_at"] == pd.Timestamp("2026-11-28", tz="UTC")).all()
