"""The one-scan path for minimal ``Date,Close`` folders agrees with the per-file parser, and
hands every file it finds anything odd in to that parser (which reads it or names the line)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestration.extract.landing import land_new_or_revised
from orchestration.extract.schema import PRICE_COLUMNS, empty_price_frame, normalize_price_frame
from orchestration.extract.scratch import register_windows, scratch_database
from orchestration.extract.sources.csv_file import read_price_csv
from orchestration.extract.sources.csv_folder import (
    CsvFolderSource,
    duplicate_file_error,
    group_price_files,
)
from tests.extract.price_files import data_line_count, expected_frame, write

NAN = math.nan


def write_minimal(folder: Path, ticker: str, days: int = 30, start: str = "2024-01-01") -> Path:
    dates = pd.bdate_range(start, periods=days)
    closes = np.round(np.linspace(10.0, 20.0, days), 4)
    path = folder / f"{ticker}.csv"
    lines = ["Date,Close", *(f"{d:%Y-%m-%d},{c}" for d, c in zip(dates, closes, strict=True))]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class FolderRead:
    failed: dict[str, str]
    unreadable: dict[str, str]
    scanned_by_duckdb: int
    parsed_one_by_one: int


def scan(
    folder: Path, windows: dict[str, date | None], work_dir: Path | None = None
) -> tuple[FolderRead, pd.DataFrame]:
    """Read the folder with the CSV source and land it under ``work_dir`` (default: beside the
    folder; the minimal files are streamed by the landing step); returns what the read did and
    the landed rows."""
    work_dir = work_dir or folder.parent
    landing_dir = work_dir / "landing"
    source = CsvFolderSource(folder)
    with scratch_database(work_dir / "scratch") as connection:
        register_windows(connection, windows)
        fetched = source.fetch(connection, windows)
        batch = land_new_or_revised(
            connection,
            landing_dir,
            price_source="csv",
            run_id=f"run{len(list(landing_dir.glob('*.parquet')))}",
            fetched_at=datetime.now(UTC),
            streamed=fetched.streamed,
        )
    scanned, _, parsed, _ = source.read_counts(batch)
    result = FolderRead(
        failed={**fetched.failed, **batch.unreadable},
        unreadable={**fetched.unreadable, **batch.unreadable},
        scanned_by_duckdb=scanned,
        parsed_one_by_one=parsed,
    )
    if batch.path is None:
        return result, pd.DataFrame(columns=["ticker", "date", "close"])
    rows = pd.read_parquet(batch.path)
    rows["date"] = pd.to_datetime(rows["date"])
    return result, rows


def read_folder(
    folder: Path, work_dir: Path, tickers: list[str] | None = None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every listed ticker of the folder (or ``tickers``) read whole by the CSV source and
    landed: the standard frame of what landed and the failures."""
    wanted = CsvFolderSource(folder).list_tickers() if tickers is None else tickers
    result, rows = scan(folder, dict.fromkeys(wanted), work_dir)
    if rows.empty:
        return empty_price_frame(), result.failed
    return normalize_price_frame(rows[PRICE_COLUMNS]), result.failed


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "prices"
    path.mkdir()
    return path


def test_minimal_files_are_scanned_in_one_pass_and_equal_the_parser(folder: Path) -> None:
    for ticker in ("AAA", "BBB", "CCC"):
        write_minimal(folder, ticker)
    result, rows = scan(folder, {"AAA": None, "BBB": None, "CCC": None})
    assert result.scanned_by_duckdb == 3
    assert result.parsed_one_by_one == 0
    assert not result.failed
    for ticker in ("AAA", "BBB", "CCC"):
        parsed = read_price_csv(folder / f"{ticker}.csv")
        scanned = rows[rows["ticker"] == ticker].reset_index(drop=True)
        assert list(pd.to_datetime(scanned["date"])) == list(parsed["date"])
        np.testing.assert_array_equal(scanned["close"], parsed["close"])
        np.testing.assert_array_equal(scanned["adj_close"], parsed["close"])
        assert scanned["open"].isna().all()
        assert scanned["volume"].isna().all()
        assert set(scanned["price_source"]) == {"csv"}


def test_the_scan_keeps_only_each_tickers_window(folder: Path) -> None:
    write_minimal(folder, "AAA")
    write_minimal(folder, "BBB")
    _, rows = scan(folder, {"AAA": date(2024, 2, 1), "BBB": None})
    assert rows.loc[rows["ticker"] == "AAA", "date"].min() == pd.Timestamp("2024-02-01")
    assert (rows["ticker"] == "BBB").sum() == 30


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("2024-01-02,10\n2024-01-03,abc\n", "line 3"),  # not a number: rejected by the scan
        ("2024-01-02,10\n2024-01-03,\n", "line 3"),  # empty close
        ("2024-01-02,10\n2024-01-02,11\n", "duplicate date 2024-01-02"),
        ("2024-01-02,10\n01/03/2024,11\n", "line 3"),  # ambiguous date layout
        ("2024-01-02,10\n2024-01-03,11,12\n", "line 3"),  # wrong field count
        ("2024-01-02,10\n2024-01-03,nan\n", "line 3"),  # not a finite close
    ],
)
def test_a_doubtful_minimal_file_goes_to_the_parser_which_names_the_line(
    folder: Path, body: str, message: str
) -> None:
    write_minimal(folder, "GOOD")
    (folder / "BAD.csv").write_text("Date,Close\n" + body)
    result, rows = scan(folder, {"GOOD": None, "BAD": None})
    assert set(result.failed) == {"BAD"}
    assert set(result.unreadable) == {"BAD"}
    assert message in result.failed["BAD"]
    assert "BAD.csv" in result.failed["BAD"]
    assert set(rows["ticker"]) == {"GOOD"}  # one bad file costs nothing else


def test_a_layout_only_the_parser_knows_is_read_by_it(folder: Path) -> None:
    (folder / "TS.csv").write_text(
        "Date,Close\n2024-01-02 00:00:00-05:00,10.5\n2024-01-03 00:00:00-05:00,11.0\n"
    )
    result, rows = scan(folder, {"TS": None})
    assert not result.failed
    assert result.parsed_one_by_one == 1
    assert list(rows["close"]) == [10.5, 11.0]
    assert list(rows["date"].dt.strftime("%Y-%m-%d")) == ["2024-01-02", "2024-01-03"]


@pytest.mark.parametrize(
    "content",
    [
        b"Date,Close\r\n2024-01-02,10\r\n2024-01-03,11\n2024-01-04,12\n",  # appended on Unix
        b"Date,Close\n2024-01-02,10\n2024-01-03,11\r\n2024-01-04,12\n",  # one line from Windows
    ],
)
def test_a_file_mixing_line_endings_is_parsed_and_the_others_still_scanned(
    folder: Path, content: bytes
) -> None:
    """DuckDB's strict reader fails a whole scan on such a file instead of a row."""
    write_minimal(folder, "GOOD")
    (folder / "CRLF.csv").write_bytes(b"Date,Close\r\n2024-01-02,7\r\n2024-01-03,8\r\n")
    (folder / "MIXED.csv").write_bytes(content)
    result, rows = scan(folder, {"GOOD": None, "CRLF": None, "MIXED": None})
    assert not result.failed
    assert (result.scanned_by_duckdb, result.parsed_one_by_one) == (2, 1)
    mixed = rows[rows["ticker"] == "MIXED"]
    assert list(mixed["date"].dt.strftime("%Y-%m-%d")) == ["2024-01-02", "2024-01-03", "2024-01-04"]
    assert list(mixed["close"]) == [10.0, 11.0, 12.0]
    assert list(rows.loc[rows["ticker"] == "CRLF", "close"]) == [7.0, 8.0]


def test_missing_empty_and_duplicate_files_are_failures(folder: Path) -> None:
    write_minimal(folder, "AAA")
    (folder / "EMPTY.csv").write_text("Date,Close\n")
    write_minimal(folder, "DUP")
    (folder / "dup.CSV").write_text((folder / "DUP.csv").read_text())
    result, rows = scan(folder, {"AAA": None, "EMPTY": None, "DUP": None, "GONE": None})
    assert set(result.failed) == {"EMPTY", "DUP", "GONE"}
    assert set(result.unreadable) == {"EMPTY", "DUP"}  # GONE has no file: absent, not bad
    assert "no file GONE.csv" in result.failed["GONE"]
    assert set(rows["ticker"]) == {"AAA"}


def test_other_shapes_are_parsed_one_by_one(folder: Path, exports_dir: Path) -> None:
    (folder / "IREN.csv").write_bytes((exports_dir / "IREN.csv").read_bytes())
    write_minimal(folder, "AAA")
    result, rows = scan(folder, {"IREN": None, "AAA": None})
    assert (result.scanned_by_duckdb, result.parsed_one_by_one) == (1, 1)
    parsed = read_price_csv(folder / "IREN.csv")
    iren = rows[rows["ticker"] == "IREN"].reset_index(drop=True)
    np.testing.assert_array_equal(iren["adj_close"], parsed["adj_close"])
    np.testing.assert_array_equal(iren["volume"], parsed["volume"])


def test_a_rescan_lands_only_new_and_revised_rows(folder: Path) -> None:
    write_minimal(folder, "AAA")
    write_minimal(folder, "BBB")
    scan(folder, {"AAA": None, "BBB": None})
    with (folder / "AAA.csv").open("a") as handle:
        handle.write("2024-02-12,99.5\n")  # a new day
    text = (folder / "BBB.csv").read_text().replace("2024-02-07,19.3103", "2024-02-07,19.7")
    (folder / "BBB.csv").write_text(text)  # a revised close inside the window
    windows = {"AAA": date(2024, 2, 2), "BBB": date(2024, 2, 2)}
    result, rows = scan(folder, windows)
    assert not result.failed
    landed = zip(rows["ticker"], rows["date"].dt.strftime("%m-%d"), rows["close"], strict=True)
    assert list(landed) == [
        ("AAA", "02-12", 99.5),
        ("BBB", "02-07", 19.7),
    ]
    _, nothing = scan(folder, windows)
    assert nothing.empty


# --------------------------------------------------------------------------------------------
# The folder's listing and failures, read through the source


def test_real_folder_reads_every_file(exports_dir: Path, tmp_path: Path) -> None:
    frame, failures = read_folder(exports_dir, tmp_path)

    assert failures == {}
    files = sorted(exports_dir.glob("*.csv"))
    assert set(frame["ticker"]) == {path.stem for path in files}
    assert len(frame) == sum(data_line_count(path) for path in files)
    pd.testing.assert_frame_equal(frame, normalize_price_frame(frame))


def test_group_price_files(tmp_path: Path) -> None:
    for name in ["WULF.csv", "btc-usd.csv", "IREN.CSV", "notes.txt", "IREN.csv.bak", ".HIDDEN.csv"]:
        write(tmp_path, name, "Date,Close\n2024-01-02,1\n")
    (tmp_path / "OLD.csv").mkdir()

    files = group_price_files(tmp_path)

    assert files == {
        "BTC-USD": [tmp_path / "btc-usd.csv"],
        "IREN": [tmp_path / "IREN.CSV"],
        "WULF": [tmp_path / "WULF.csv"],
    }
    assert list(files) == sorted(files)


def test_group_price_files_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        group_price_files(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_folder(tmp_path / "nowhere", tmp_path / "work", ["IREN"])


def _make_case_twins(directory: Path) -> None:
    write(directory, "IREN.csv", "Date,Close\n2024-01-02,1\n")
    write(directory, "iren.csv", "Date,Close\n2024-01-02,2\n")
    if len(list(directory.iterdir())) < 2:
        pytest.skip("case-insensitive file system: IREN.csv and iren.csv are one file")


def test_two_files_for_one_ticker_are_grouped_and_named_in_the_error(tmp_path: Path) -> None:
    _make_case_twins(tmp_path)

    paths = group_price_files(tmp_path)["IREN"]
    assert [path.name for path in paths] == ["IREN.csv", "iren.csv"]
    error = duplicate_file_error("IREN", paths)
    assert "IREN.csv, iren.csv all hold ticker IREN" in str(error)


def test_folder_keeps_the_good_files_when_one_is_bad(tmp_path: Path) -> None:
    write(tmp_path, "IREN.csv", "Date,Close\n2024-01-02,1.0\n2024-01-03,1.1\n")
    bad = write(tmp_path, "MARA.csv", "Date,Close\n2024-01-02,1.0\n2024-01-03,oops\n")
    write(tmp_path, "WULF.csv", "Date,Open,Close\n2024-01-02,2.0,2.5\n")

    frame, failures = read_folder(tmp_path, tmp_path / "work")

    assert failures == {"MARA": f"{bad} line 3: close 'oops' is not a number"}
    expected = expected_frame(
        "IREN",
        [
            ("2024-01-02", NAN, NAN, NAN, 1.0, 1.0, NAN),
            ("2024-01-03", NAN, NAN, NAN, 1.1, 1.1, NAN),
        ],
    )
    wulf = expected_frame("WULF", [("2024-01-02", 2.0, NAN, NAN, 2.5, 2.5, NAN)])
    pd.testing.assert_frame_equal(frame, normalize_price_frame(pd.concat([expected, wulf])))


def test_folder_reads_only_the_requested_tickers(tmp_path: Path) -> None:
    write(tmp_path, "IREN.csv", "Date,Close\n2024-01-02,1.0\n")
    write(tmp_path, "MARA.csv", "Date,Close\n2024-01-02,oops\n")
    write(tmp_path, "WULF.csv", "Date,Close\n2024-01-02,2.0\n")

    frame, failures = read_folder(tmp_path, tmp_path / "work", ["WULF", "IREN", "ZZZZ"])

    assert list(frame["ticker"]) == ["IREN", "WULF"]
    assert failures == {"ZZZZ": f"no file ZZZZ.csv in {tmp_path}"}


def test_folder_with_two_files_for_one_ticker_loses_only_that_ticker(tmp_path: Path) -> None:
    _make_case_twins(tmp_path)
    write(tmp_path, "WULF.csv", "Date,Close\n2024-01-02,2.0\n")

    frame, failures = read_folder(tmp_path, tmp_path / "work")

    assert list(frame["ticker"]) == ["WULF"]
    assert list(failures) == ["IREN"]
    assert "IREN.csv, iren.csv all hold ticker IREN" in failures["IREN"]


def test_folder_where_nothing_parses(tmp_path: Path) -> None:
    write(tmp_path, "IREN.csv", "")
    write(tmp_path, "notes.txt", "not a price file")

    frame, failures = read_folder(tmp_path, tmp_path / "work")

    assert list(frame.columns) == PRICE_COLUMNS
    assert frame.empty
    assert failures == {"IREN": f"{tmp_path / 'IREN.csv'}: no data rows (the file is empty)"}


def test_empty_folder(tmp_path: Path) -> None:
    frame, failures = read_folder(tmp_path, tmp_path / "work")

    assert frame.empty
    assert list(frame.columns) == PRICE_COLUMNS
    assert failures == {}
    assert group_price_files(tmp_path) == {}
