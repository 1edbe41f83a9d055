"""The one-scan path for minimal ``Date,Close`` folders agrees with the per-file parser, and
hands every file it finds anything odd in to that parser (which reads it or names the line)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestration.extract import csv_scan
from orchestration.extract.csv_source import read_price_csv
from orchestration.extract.landing import (
    land_new_or_revised,
    register_windows,
    scratch_database,
)


def write_minimal(folder: Path, ticker: str, days: int = 30, start: str = "2024-01-01") -> Path:
    dates = pd.bdate_range(start, periods=days)
    closes = np.round(np.linspace(10.0, 20.0, days), 4)
    path = folder / f"{ticker}.csv"
    lines = ["Date,Close", *(f"{d:%Y-%m-%d},{c}" for d, c in zip(dates, closes, strict=True))]
    path.write_text("\n".join(lines) + "\n")
    return path


def scan(folder: Path, windows: dict[str, date | None]) -> tuple[csv_scan.FolderScan, pd.DataFrame]:
    """Scan the folder and land it (the minimal files are streamed by the landing step);
    returns the scan and the landed rows."""
    landing_dir = folder.parent / "landing"
    with scratch_database(folder.parent / "scratch") as connection:
        register_windows(connection, windows)
        result = csv_scan.scan_price_folder(connection, folder, windows, "csv")
        batch = land_new_or_revised(
            connection,
            landing_dir,
            price_source="csv",
            run_id=f"run{len(list(landing_dir.glob('*.parquet')))}",
            fetched_at=datetime.now(UTC),
            streamed=result.streamed,
        )
    if batch.path is None:
        return result, pd.DataFrame(columns=["ticker", "date", "close"])
    rows = pd.read_parquet(batch.path)
    rows["date"] = pd.to_datetime(rows["date"])
    return result, rows


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
