"""A CSV export that grows by a line a day is read from its previous end, not whole: the new
bytes only, when the landed part (its last 4 KiB, hashed) is unchanged; anything else is read
whole, as before. What lands must be what a whole read would land."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from orchestration.extract.prices import ExtractionOptions, extract_prices
from orchestration.extract.sources import csv_folder
from orchestration.paths import DataPaths
from tests.landing_files import read_latest_landed

RUN_AT = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)
HISTORY_DAYS = 600  # more than 4 KiB of lines: the landed tail is a part of the file
# Two tickers of the folder, and the small companies seed's (conftest.small_companies_seed).
TICKERS = ("AAA", "BBB", "IREN", "BTC-USD", "QQQ")


def _history(days: int = HISTORY_DAYS) -> list[str]:
    dates = pd.bdate_range("2023-01-02", periods=days)
    return [f"{day:%Y-%m-%d},{10 + index / 100:.2f}" for index, day in enumerate(dates)]


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("Date,Close\n" + "".join(f"{line}\n" for line in lines))


def _append(path: Path, *lines: str) -> None:
    with path.open("a") as handle:
        handle.writelines(f"{line}\n" for line in lines)


def _run(tmp_path: Path, seed: Path, csv_dir: Path, run_number: int, **options):
    return extract_prices(
        ExtractionOptions(
            source="csv", csv_dir=csv_dir, universe="all", max_failed_share=1.0, **options
        ),
        paths=DataPaths(tmp_path / "data"),
        companies_seed=seed,
        run_id=f"r{run_number}",
        fetched_at=RUN_AT.replace(minute=run_number),
        is_reachable=lambda: False,
    )


@pytest.fixture
def scanned(monkeypatch) -> dict[str, list[str]]:
    """Which files were read: ``whole`` (the scan of minimal files, or the per-file parser)
    and ``new_bytes`` (grown files, from their previous end), by ticker."""
    seen: dict[str, list[str]] = {"whole": [], "new_bytes": []}
    real_init = csv_folder.MinimalFilesScan.__init__
    real_parse = csv_folder._parse_one_by_one
    real_read_new_bytes = csv_folder.read_new_bytes

    def recording_init(self, connection, files, *args, **kwargs):
        seen["whole"].extend(files)
        real_init(self, connection, files, *args, **kwargs)

    def recording_parse(connection, files, *args):
        seen["whole"].extend(files)
        return real_parse(connection, files, *args)

    def recording_read_new_bytes(grown):
        seen["new_bytes"].append(grown.path.stem)
        return real_read_new_bytes(grown)

    monkeypatch.setattr(csv_folder.MinimalFilesScan, "__init__", recording_init)
    monkeypatch.setattr(csv_folder, "_parse_one_by_one", recording_parse)
    monkeypatch.setattr(csv_folder, "read_new_bytes", recording_read_new_bytes)
    return seen


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    for ticker in TICKERS:
        _write(csv_dir / f"{ticker}.csv", _history())
    return csv_dir


def _current_closes(tmp_path: Path, ticker: str) -> dict[date, float]:
    landing = DataPaths(tmp_path / "data").landing_prices
    rows = read_latest_landed(landing, [ticker], date(2000, 1, 1))
    return {day.date(): close for day, close in zip(rows["date"], rows["close"], strict=True)}


def test_a_grown_file_is_read_from_its_previous_end(
    tmp_path: Path, small_companies_seed: Path, folder: Path, scanned
) -> None:
    first = _run(tmp_path, small_companies_seed, folder, 1)
    assert first.rows_landed_by_ticker == dict.fromkeys(TICKERS, HISTORY_DAYS)
    scanned["whole"].clear()

    _append(folder / "AAA.csv", "2025-04-21,99.5", "2025-04-22,99.75")
    second = _run(tmp_path, small_companies_seed, folder, 2)
    assert scanned == {"whole": [], "new_bytes": ["AAA"]}
    assert second.rows_landed_by_ticker == {"AAA": 2}
    assert second.failed == {}
    assert any(
        "1 grown files read from their previous end" in note and "4 unchanged" in note
        for note in second.notes
    )
    closes = _current_closes(tmp_path, "AAA")
    assert len(closes) == HISTORY_DAYS + 2
    assert closes[date(2025, 4, 22)] == 99.75

    # The next day grows from the new end.
    scanned["new_bytes"].clear()
    _append(folder / "AAA.csv", "2025-04-23,100.0")
    third = _run(tmp_path, small_companies_seed, folder, 3)
    assert scanned["new_bytes"] == ["AAA"]
    assert third.rows_landed_by_ticker == {"AAA": 1}


def test_a_file_revised_near_its_end_and_grown_is_read_whole(
    tmp_path: Path, small_companies_seed: Path, folder: Path, scanned
) -> None:
    _run(tmp_path, small_companies_seed, folder, 1)
    scanned["whole"].clear()
    lines = _history()
    lines[-3] = lines[-3].split(",")[0] + ",55.5"  # a revised close in the landed tail
    _write(folder / "AAA.csv", [*lines, "2025-04-21,99.5"])

    second = _run(tmp_path, small_companies_seed, folder, 2)
    assert scanned == {"whole": ["AAA"], "new_bytes": []}
    assert second.rows_landed_by_ticker == {"AAA": 2}  # the revision and the new day
    revised_day = date.fromisoformat(lines[-3].split(",")[0])
    assert _current_closes(tmp_path, "AAA")[revised_day] == 55.5


def test_a_copied_file_with_the_same_bytes_is_not_read(
    tmp_path: Path, small_companies_seed: Path, folder: Path, scanned
) -> None:
    _run(tmp_path, small_companies_seed, folder, 1)
    scanned["whole"].clear()
    path = folder / "AAA.csv"
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))
    second = _run(tmp_path, small_companies_seed, folder, 2)
    assert scanned == {"whole": [], "new_bytes": []}
    assert second.rows_landed == 0
    assert any("5 unchanged since they landed" in note for note in second.notes)


@pytest.mark.parametrize(
    ("new_lines", "error"),
    [
        (["2025-04-21,99.5", "2025-04-21,99.6"], "duplicate date"),
        (["2023-01-02,10.0"], "duplicate date"),  # a date the landed part already holds
        (["2025-04-21,abc"], "line 602"),
    ],
)
def test_new_bytes_a_whole_read_would_refuse_fail_the_ticker_with_the_parsers_error(
    tmp_path: Path, small_companies_seed: Path, folder: Path, new_lines: list[str], error: str
) -> None:
    _run(tmp_path, small_companies_seed, folder, 1)
    _append(folder / "AAA.csv", *new_lines)
    second = _run(tmp_path, small_companies_seed, folder, 2)
    assert set(second.failed) == {"AAA"}
    assert error in second.failed["AAA"]
    assert "AAA" not in second.rows_landed_by_ticker
    # Failed, so not recorded: the next run reads the file whole. A whole read checks the
    # rows of the fetch window (the last days): it fails the same way when the bad row is
    # there, and does not see a repeated date from years ago, as before.
    third = _run(tmp_path, small_companies_seed, folder, 3)
    if new_lines[-1] >= "2025":
        assert error in third.failed["AAA"]


def test_a_file_grown_without_a_final_line_end_is_read_whole(
    tmp_path: Path, small_companies_seed: Path, folder: Path, scanned
) -> None:
    _run(tmp_path, small_companies_seed, folder, 1)
    scanned["whole"].clear()
    with (folder / "AAA.csv").open("a") as handle:
        handle.write("2025-04-21,99.5")  # no line end: maybe still being written
    second = _run(tmp_path, small_companies_seed, folder, 2)
    assert scanned == {"whole": ["AAA"], "new_bytes": ["AAA"]}
    assert second.rows_landed_by_ticker == {"AAA": 1}


def test_new_lines_land_the_same_values_as_a_whole_read(
    tmp_path: Path, small_companies_seed: Path, folder: Path
) -> None:
    awkward = ["2025-04-21,305.489990234375", "2025-04-22,1e-05", "2025-04-23,0.1"]
    grown_dir, whole_dir = tmp_path / "grown", tmp_path / "whole"
    _run(grown_dir, small_companies_seed, folder, 1)
    _append(folder / "AAA.csv", *awkward)
    _run(grown_dir, small_companies_seed, folder, 2)
    _run(whole_dir, small_companies_seed, folder, 1)

    def landed(data_dir: Path) -> pd.DataFrame:
        rows = read_latest_landed(
            DataPaths(data_dir / "data").landing_prices, TICKERS, date(2000, 1, 1)
        )
        return rows.drop(columns=["price_source"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(landed(grown_dir), landed(whole_dir))
    closes = landed(grown_dir).set_index("date")["close"]
    assert closes[pd.Timestamp("2025-04-21")].item() == 305.489990234375


@pytest.mark.parametrize(
    ("new_bytes", "rows"),
    [
        (b"2025-04-21,1.5\n", [(date(2025, 4, 21), 1.5)]),
        (
            b"2025-04-21,1.5\r\n2025-04-22,-2E3\n",
            [(date(2025, 4, 21), 1.5), (date(2025, 4, 22), -2000.0)],
        ),
        (b"2025-04-21,1.5", None),  # no line end
        (b"2025-04-21,nan\n", None),
        (b"2025-04-21, 1.5\n", None),
        (b"2025-04-21,1.5,7\n", None),
        (b"2025-4-21,1.5\n", None),
        (b"2025-02-30,1.5\n", None),
        (b"\n", None),
        (b"2025-04-18,1.5\n", None),  # the previous last date
        (b"2025-04-22,1.5\n2025-04-21,1.5\n", None),  # out of order
    ],
)
def test_only_plain_dated_lines_after_the_previous_end_take_the_fast_path(
    new_bytes: bytes, rows
) -> None:
    grown = csv_folder.GrownFile(Path("X.csv"), 0, len(new_bytes), date(2025, 4, 18))
    assert csv_folder.parse_new_lines(grown, new_bytes) == rows


def test_an_edit_of_the_same_length_inside_the_window_is_read(
    tmp_path: Path, small_companies_seed: Path, folder: Path, scanned
) -> None:
    """Same size, another time, another tail: read whole, and the revision lands."""
    _run(tmp_path, small_companies_seed, folder, 1)
    scanned["whole"].clear()
    lines = _history()
    day, close = lines[-2].split(",")
    lines[-2] = f"{day},{close[:-1]}9"  # the same length
    assert lines[-2] != _history()[-2]
    _write(folder / "AAA.csv", lines)
    second = _run(tmp_path, small_companies_seed, folder, 2)
    assert scanned == {"whole": ["AAA"], "new_bytes": []}
    assert second.rows_landed_by_ticker == {"AAA": 1}


def test_a_window_reaching_back_beyond_the_hashed_tail_reads_the_file_whole(
    tmp_path: Path, small_companies_seed: Path, folder: Path, scanned
) -> None:
    """The hashed 4 KiB hold about 130 daily lines: a window of 400 days is not covered by it,
    so a grown file is read whole (its window's rows are compared again)."""
    _run(tmp_path, small_companies_seed, folder, 1, refetch_days=400)
    scanned["whole"].clear()
    _append(folder / "AAA.csv", "2025-04-21,99.5")
    second = _run(tmp_path, small_companies_seed, folder, 2, refetch_days=400)
    assert scanned == {"whole": ["AAA"], "new_bytes": []}
    assert second.rows_landed_by_ticker == {"AAA": 1}
