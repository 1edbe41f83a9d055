"""The per-file CSV parser: real yfinance exports, every shape, every error."""

from __future__ import annotations

import csv
import math
import pickle
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestration.extract.schema import PRICE_COLUMNS
from orchestration.extract.sources.csv_file import PriceFileError, read_price_csv, ticker_from_path
from tests.exports import write_sample_like_exports
from tests.extract.price_files import data_line_count, expected_frame, write

# ../shared next to the repository root: real files, read-only, never copied into the project.
SAMPLE_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sample_prices"
NO_SAMPLES = f"real sample price files not found at {SAMPLE_DIR}"
SAMPLE_FILES = sorted(SAMPLE_DIR.glob("*.csv")) if SAMPLE_DIR.is_dir() else []
REAL_FILE_PARAMS = [pytest.param(path, id=path.stem) for path in SAMPLE_FILES] or [
    pytest.param(None, marks=pytest.mark.skip(reason=NO_SAMPLES))
]
NAN = math.nan


# --------------------------------------------------------------------------------------------
# Helpers


def expect_error(path: Path, line: int | None, *fragments: str) -> PriceFileError:
    """Parse ``path``, expecting a PriceFileError at ``line`` whose message names the problem."""
    with pytest.raises(PriceFileError) as info:
        read_price_csv(path)
    error = info.value
    assert error.path == path
    assert error.line == line, str(error)
    message = str(error)
    assert message.startswith(str(path) if line is None else f"{path} line {line}: "), message
    for fragment in fragments:
        assert fragment in message, message
    return error


def csv_rows(path: Path) -> list[dict[str, str]]:
    """The file's data rows read with the csv module: the independent reference."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def field(row: dict[str, str], name: str) -> str:
    """A cell by column name, whatever its case (BTC-USD.csv has lower-case names)."""
    (value,) = [cell for key, cell in row.items() if key.lower() == name.lower()]
    return value


@pytest.fixture
def sample_dir() -> Path:
    if not SAMPLE_DIR.is_dir():
        pytest.skip(NO_SAMPLES)
    return SAMPLE_DIR


# --------------------------------------------------------------------------------------------
# Real files


def assert_parses_with_every_row_and_value(path: Path) -> None:
    """The file's rows, read by the product's parser and by the csv module, agree."""
    frame = read_price_csv(path)
    rows = csv_rows(path)

    assert list(frame.columns) == PRICE_COLUMNS
    assert len(frame) == data_line_count(path) == len(rows)
    assert (frame["ticker"] == path.stem).all()
    assert frame["date"].is_unique
    assert frame["date"].is_monotonic_increasing
    # The files are in date order, so the frame's (sorted) order is the file's order.
    closes = np.array([float(field(row, "Close")) for row in rows])
    np.testing.assert_array_equal(frame["close"].to_numpy(), closes)
    volumes = np.array([float(field(row, "Volume")) for row in rows])
    np.testing.assert_array_equal(frame["volume"].to_numpy(), volumes)
    if "Adj Close" in rows[0]:
        adjusted = np.array([float(row["Adj Close"]) for row in rows])
        np.testing.assert_array_equal(frame["adj_close"].to_numpy(), adjusted)
    else:
        np.testing.assert_array_equal(frame["adj_close"].to_numpy(), closes)
    assert not frame[["open", "high", "low"]].isna().any().any()


@pytest.mark.parametrize("path", REAL_FILE_PARAMS)
def test_real_file_parses_with_every_row_and_value(path: Path) -> None:
    assert_parses_with_every_row_and_value(path)


def test_generated_files_parse_with_every_row_and_value(generated_exports_dir: Path) -> None:
    files = sorted(generated_exports_dir.glob("*.csv"))
    assert len(files) > 20
    for path in files:
        assert_parses_with_every_row_and_value(path)


def test_real_btc_usd_keeps_weekend_days(sample_dir: Path) -> None:
    frame = read_price_csv(sample_dir / "BTC-USD.csv")

    assert frame["date"].iloc[0] == pd.Timestamp("2014-09-18")
    assert frame["date"].iloc[-1] == pd.Timestamp("2025-04-04")
    assert (frame["date"].diff().dropna() == pd.Timedelta(days=1)).all()
    weekend = frame["date"].dt.day_of_week >= 5
    assert weekend.sum() == 1100
    assert frame.loc[frame["date"] == pd.Timestamp("2014-09-20"), "close"].item() == float(
        "408.90399169921875"
    )


def test_real_equity_dates_are_all_weekdays(exports_dir: Path) -> None:
    # A wrong time-zone rule moves every Monday onto a Sunday; weekdays only proves it did not.
    last_dates = set()
    for path in sorted(exports_dir.glob("*.csv")):
        if path.stem == "BTC-USD":
            continue
        frame = read_price_csv(path)
        assert (frame["date"].dt.day_of_week < 5).all(), path.name
        last_dates.add(frame["date"].iloc[-1])
    assert len(last_dates) == 1  # every equity file ends on the same trading day


def test_generated_offset_stamps_get_their_new_york_trading_date(
    generated_exports_dir: Path,
) -> None:
    # Winter stamps are 05:00 UTC, summer ones 04:00: both are that day's New York midnight.
    path = generated_exports_dir / "IREN.csv"
    stamps = {row["Date"]: float(row["Close"]) for row in csv_rows(path)}
    frame = read_price_csv(path).set_index("date")
    hours = set()
    for stamp, close in stamps.items():
        hours.add(stamp[11:13])
        assert frame.loc[pd.Timestamp(stamp[:10]), "close"] == close
    assert hours == {"04", "05"}


def test_generated_quirks_are_kept(generated_exports_dir: Path) -> None:
    assert len(read_price_csv(generated_exports_dir / "CRWV.csv")) == 5  # a short history
    mara = read_price_csv(generated_exports_dir / "MARA.csv")
    assert mara["close"].pct_change().max() > 3.0  # a +300% day in the unadjusted close
    assert mara["adj_close"].pct_change().max() < 0.5  # and none in the adjusted one
    btc = read_price_csv(generated_exports_dir / "BTC-USD.csv")
    assert (btc["date"].diff().dropna() == pd.Timedelta(days=1)).all()
    assert (btc["date"].dt.day_of_week >= 5).sum() > 100
    assert read_price_csv(generated_exports_dir / "BTDR.csv")["close"].max() < 1.0  # pennies


@pytest.mark.parametrize(
    ("ticker", "stamp", "trading_date"),
    [
        ("IREN", "2021-11-17 05:00:00+00:00", "2021-11-17"),  # winter: New York midnight = 05:00
        ("AMZN", "2020-07-27 04:00:00+00:00", "2020-07-27"),  # summer: 04:00
        ("CIFR", "2020-12-08 05:00:00+00:00", "2020-12-08"),
        ("IREN", "2025-03-07 05:00:00+00:00", "2025-03-07"),  # Friday before DST starts ...
        ("IREN", "2025-03-10 04:00:00+00:00", "2025-03-10"),  # ... Monday after
        ("IREN", "2024-11-01 04:00:00+00:00", "2024-11-01"),  # Friday before DST ends ...
        ("IREN", "2024-11-04 05:00:00+00:00", "2024-11-04"),  # ... Monday after
        ("SPY", "2018-11-01 04:00:00+00:00", "2018-11-01"),
        ("CORZ", "2024-01-24 05:00:00+00:00", "2024-01-24"),
    ],
)
def test_real_offset_stamps_get_their_new_york_trading_date(
    sample_dir: Path, ticker: str, stamp: str, trading_date: str
) -> None:
    path = sample_dir / f"{ticker}.csv"
    (row,) = [row for row in csv_rows(path) if row["Date"] == stamp]
    frame = read_price_csv(path)

    on_date = frame[frame["date"] == pd.Timestamp(trading_date)]
    assert len(on_date) == 1
    assert on_date["close"].item() == float(row["Close"])


def test_real_first_dates_and_quirks_are_kept(sample_dir: Path) -> None:
    iren = read_price_csv(sample_dir / "IREN.csv")
    assert iren["date"].iloc[0] == pd.Timestamp("2021-11-17")
    assert iren["close"].iloc[0] == 24.41

    # SPY's lone 2018 row, 20 months before the rest, is real: it is kept, not dropped.
    spy = read_price_csv(sample_dir / "SPY.csv")
    assert list(spy["date"].iloc[:2]) == [pd.Timestamp("2018-11-01"), pd.Timestamp("2020-07-27")]

    # CRWV listed 2025-03-28: six rows is all there is.
    crwv = read_price_csv(sample_dir / "CRWV.csv")
    assert len(crwv) == 6
    assert crwv["date"].iloc[0] == pd.Timestamp("2025-03-28")

    # CORZ: the pre-bankruptcy security ends, the new one starts 2024-01-24; both are kept.
    corz = read_price_csv(sample_dir / "CORZ.csv")
    gap = corz["date"].diff().max()
    assert gap == pd.Timedelta(days=390)
    assert corz.loc[corz["date"].diff() == gap, "date"].item() == pd.Timestamp("2024-01-24")


def test_generated_rows_of_another_security_are_kept(tmp_path: Path) -> None:
    """The twin of the CORZ part of test_real_first_dates_and_quirks_are_kept: the file's rows
    of the pre-bankruptcy security (before 2024-01-24) and of the new one are all kept, with
    the jump between them (the valid-from filter is the warehouse's job, not the parser's)."""
    folder = write_sample_like_exports(
        tmp_path, first_day=date(2023, 11, 1), last_day=date(2024, 2, 29)
    )
    path = folder / "CORZ.csv"
    corz = read_price_csv(path)
    rows = csv_rows(path)
    assert len(corz) == len(rows)
    np.testing.assert_array_equal(corz["close"].to_numpy(), [float(row["Close"]) for row in rows])
    assert corz["date"].iloc[0] == pd.Timestamp("2023-11-01")
    (first_new,) = corz.index[corz["date"] == pd.Timestamp("2024-01-24")]
    # The generator scales the old security's rows by OTHER_SECURITY_SCALE["CORZ"] (0.05).
    assert corz["close"].iloc[first_new] / corz["close"].iloc[first_new - 1] > 10


# --------------------------------------------------------------------------------------------
# Shapes


def test_history_shape_with_dividends_and_splits(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "IREN.csv",
        "Date,Open,High,Low,Close,Adj Close,Volume,Dividends,Stock Splits\n"
        "2021-11-17 05:00:00+00:00,28.0,28.0,21.46,24.41,24.0,425964.0,0.0,0.0\n"
        "2022-07-01 04:00:00+00:00,3.1,3.3,3.0,3.2,3.15,1000.0,0.0,0.0\n",
    )

    frame = read_price_csv(path)

    expected = expected_frame(
        "IREN",
        [
            ("2021-11-17", 28.0, 28.0, 21.46, 24.41, 24.0, 425964.0),
            ("2022-07-01", 3.1, 3.3, 3.0, 3.2, 3.15, 1000.0),
        ],
    )
    pd.testing.assert_frame_equal(frame, expected)


def test_history_shape_in_exchange_time_takes_the_written_dates(tmp_path: Path) -> None:
    # Ticker.history() unconverted: New York midnight with -05:00 in winter, -04:00 in summer.
    path = write(
        tmp_path,
        "MARA.csv",
        "Date,Open,High,Low,Close,Volume\n"
        "2024-01-02 00:00:00-05:00,1,2,0.5,1.5,10\n"
        "2024-07-01 00:00:00-04:00,2,3,1.5,2.5,20\n",
    )

    frame = read_price_csv(path)

    assert list(frame["date"]) == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-07-01")]


def test_utc_midnight_stamps_keep_their_written_date(tmp_path: Path) -> None:
    # Crypto history is stamped at UTC midnight: that day is the trading day, not the day
    # before (which New York time would say).
    path = write(
        tmp_path,
        "BTC-USD.csv",
        "Date,Open,High,Low,Close,Volume\n"
        "2024-01-06 00:00:00+00:00,1,2,0.5,1.5,10\n"
        "2024-01-07 00:00:00+00:00,2,3,1.5,2.5,20\n",
    )

    frame = read_price_csv(path)

    assert list(frame["date"]) == [pd.Timestamp("2024-01-06"), pd.Timestamp("2024-01-07")]


def test_download_shape_with_three_header_rows(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "IREN.csv",
        "Price,Close,High,Low,Open,Volume\n"
        "Ticker,IREN,IREN,IREN,IREN,IREN\n"
        "Date,,,,,\n"
        "2024-01-02,10.5,11.0,10.1,10.2,123456\n"
        "2024-01-03,10.7,10.9,10.3,10.4,234567\n",
    )

    frame = read_price_csv(path)

    expected = expected_frame(
        "IREN",
        [
            ("2024-01-02", 10.2, 11.0, 10.1, 10.5, 10.5, 123456.0),
            ("2024-01-03", 10.4, 10.9, 10.3, 10.7, 10.7, 234567.0),
        ],
    )
    pd.testing.assert_frame_equal(frame, expected)


def test_download_shape_with_two_header_rows_and_adj_close(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "HUT.csv",
        "Price,Adj Close,Close,High,Low,Open,Volume\n"
        "Ticker,HUT,HUT,HUT,HUT,HUT,HUT\n"
        "2024-01-02,9.9,10.0,10.5,9.5,9.8,5000\n",
    )

    frame = read_price_csv(path)

    expected = expected_frame("HUT", [("2024-01-02", 9.8, 10.5, 9.5, 10.0, 9.9, 5000.0)])
    pd.testing.assert_frame_equal(frame, expected)


def test_lowercase_names_and_extra_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "BTC-USD.csv",
        "Date,open,high,low,close,volume,Log_Return\n"
        "2014-09-18,456.86,456.86,413.10,424.44,34483200.0,-0.0746\n"
        "2014-09-20,394.67,423.30,389.88,408.90,36863600.0,0.0351\n"
        "2014-09-19,424.10,427.83,384.53,394.80,37919700.0,-0.0724\n",
    )

    frame = read_price_csv(path)

    expected = expected_frame(
        "BTC-USD",
        [
            ("2014-09-18", 456.86, 456.86, 413.10, 424.44, 424.44, 34483200.0),
            ("2014-09-19", 424.10, 427.83, 384.53, 394.80, 394.80, 37919700.0),
            ("2014-09-20", 394.67, 423.30, 389.88, 408.90, 408.90, 36863600.0),
        ],
    )
    pd.testing.assert_frame_equal(frame, expected)


@pytest.mark.parametrize("name", ["Adj Close", "adj_close", "adjclose", "ADJ CLOSE", "AdjClose"])
def test_adj_close_spellings(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, "NVDA.csv", f"date,CLOSE,{name}\n2024-01-02,10.0,9.5\n")

    frame = read_price_csv(path)

    assert frame["close"].item() == 10.0
    assert frame["adj_close"].item() == 9.5


def test_minimal_date_close(tmp_path: Path) -> None:
    path = write(tmp_path, "WULF.csv", "Date,Close\n2024-01-02,2.5\n2024-01-03,2.75\n")

    frame = read_price_csv(path)

    expected = expected_frame(
        "WULF",
        [
            ("2024-01-02", NAN, NAN, NAN, 2.5, 2.5, NAN),
            ("2024-01-03", NAN, NAN, NAN, 2.75, 2.75, NAN),
        ],
    )
    pd.testing.assert_frame_equal(frame, expected)


def test_empty_open_high_low_volume_cells_are_nan(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "RIOT.csv",
        "Date,Open,High,Low,Close,Volume\n2024-01-02,,,,7.5,\n2024-01-03,7.4, 7.9 ,7.3,7.8,100\n",
    )

    frame = read_price_csv(path)

    expected = expected_frame(
        "RIOT",
        [
            ("2024-01-02", NAN, NAN, NAN, 7.5, 7.5, NAN),
            ("2024-01-03", 7.4, 7.9, 7.3, 7.8, 7.8, 100.0),
        ],
    )
    pd.testing.assert_frame_equal(frame, expected)


@pytest.mark.parametrize(
    ("stamp", "trading_date"),
    [
        ("2024-01-02", "2024-01-02"),
        ("2024-01-02 00:00:00", "2024-01-02"),
        ("2024-01-02T15:30:00", "2024-01-02"),  # naive: taken as written
        ("2024-01-02 23:30", "2024-01-02"),
        ("2024-01-03T05:00:00Z", "2024-01-03"),  # 00:00 in New York
        ("2024-01-03 03:00:00+00:00", "2024-01-02"),  # 22:00 the evening before in New York
        ("2024-01-03 05:00:00+00", "2024-01-03"),
        ("2024-01-02T00:00:00.000+0900", "2024-01-02"),  # a local midnight elsewhere
    ],
)
def test_stamp_layouts(tmp_path: Path, stamp: str, trading_date: str) -> None:
    path = write(tmp_path, "X.csv", f"Date,Close\n{stamp},1.0\n")

    assert read_price_csv(path)["date"].item() == pd.Timestamp(trading_date)


def test_mixed_stamp_layouts_in_one_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "X.csv",
        "Date,Close\n2024-01-02,1\n2024-01-03 05:00:00+00:00,2\n2024-01-04 00:00:00-05:00,3\n",
    )

    frame = read_price_csv(path)

    assert list(frame["date"]) == list(pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"]))
    assert list(frame["close"]) == [1.0, 2.0, 3.0]


def test_crlf_bom_blank_lines_and_explicit_ticker(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "prices.csv",
        "\ufeffDate,Close\r\n2024-01-02,1.5\r\n\r\n2024-01-03,1.6\r\n\r\n\r\n",
    )

    frame = read_price_csv(path, ticker=" iren ")

    expected = expected_frame(
        "IREN",
        [
            ("2024-01-02", NAN, NAN, NAN, 1.5, 1.5, NAN),
            ("2024-01-03", NAN, NAN, NAN, 1.6, 1.6, NAN),
        ],
    )
    pd.testing.assert_frame_equal(frame, expected)


def test_download_ticker_row_checks_the_explicit_ticker(tmp_path: Path) -> None:
    path = write(tmp_path, "prices.csv", "Price,Close\nTicker,IREN\n2024-01-02,1.5\n")

    assert read_price_csv(path, "IREN")["close"].item() == 1.5
    with pytest.raises(PriceFileError, match="ticker row names IREN but the file is for PRICES"):
        read_price_csv(path)


# --------------------------------------------------------------------------------------------
# Errors: exact line, file named, problem named


def test_non_numeric_close_message(tmp_path: Path) -> None:
    path = write(tmp_path, "IREN.csv", "Date,Close\n2024-01-02,1.0\n2024-01-03,abc\n")

    error = expect_error(path, 3)

    assert str(error) == f"{path} line 3: close 'abc' is not a number"
    assert error.reason == "close 'abc' is not a number"


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("2024-13-01,1.0,5", "date '2024-13-01' is not a date"),
        ("2024-02-30,1.0,5", "date '2024-02-30' is not a date"),
        ("01/02/2024,1.0,5", "date '01/02/2024' is not a date"),
        ("2024-01,1.0,5", "date '2024-01' is not a date"),
        ("2024-1-4,1.0,5", "date '2024-1-4' is not a date"),
        ("2024-01-04 00:00:00+0,1.0,5", "date '2024-01-04 00:00:00+0' is not a date"),
        ("yesterday,1.0,5", "date 'yesterday' is not a date"),
        (",1.0,5", "date is empty"),
        ("2024-01-04,,5", "close is empty"),
        ("2024-01-04,nan,5", "close 'nan' is not a number"),
        ("2024-01-04,inf,5", "close 'inf' is not a number"),
        ("2024-01-04,$1.0,5", "close '$1.0' is not a number"),
        ("2024-01-04,1.0,n/a", "volume 'n/a' is not a number"),
        ("2024-01-04,1.0,NaN", "volume 'NaN' is not a number"),
    ],
)
def test_bad_cell_is_reported_on_its_line(tmp_path: Path, row: str, problem: str) -> None:
    path = write(
        tmp_path,
        "IREN.csv",
        f"Date,Close,Volume\n2024-01-02,1.0,5\n2024-01-03,1.1,6\n{row}\n2024-01-05,1.2,7\n",
    )

    expect_error(path, 4, problem)


def test_first_bad_row_in_the_file_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "IREN.csv",
        "Date,Open,Close,Volume\n"
        "2024-01-02,1,1.0,5\n"
        "2024-01-03,1,1.0,x\n"  # line 3: bad volume
        "2024-01-04,1,oops,5\n"  # line 4: bad close
        "bad-date,1,1.0,5\n",  # line 5: bad date
    )

    expect_error(path, 3, "volume 'x' is not a number")


def test_empty_adj_close_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "IREN.csv", "Date,Close,Adj Close\n2024-01-02,1.0,\n")

    expect_error(path, 2, "adj_close is empty")


def test_bad_value_in_an_ignored_column_is_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "IREN.csv", "Date,Close,Dividends\n2024-01-02,1.0,lots\n")

    assert read_price_csv(path)["close"].item() == 1.0


def test_duplicate_date_reports_the_second_occurrence(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "IREN.csv",
        "Date,Close\n2024-01-02,1.0\n2024-01-03,1.1\n2024-01-04,1.2\n2024-01-03,1.3\n",
    )

    expect_error(path, 5, "duplicate date 2024-01-03", "first on line 3")


def test_duplicate_trading_date_from_different_stamps(tmp_path: Path) -> None:
    # Both stamps are New York midnight of 2024-01-02.
    path = write(
        tmp_path,
        "IREN.csv",
        "Date,Close\n2024-01-02 05:00:00+00:00,1.0\n2024-01-02 00:00:00-05:00,1.1\n",
    )

    expect_error(path, 3, "duplicate date 2024-01-02", "first on line 2")


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("Day,Open,Close", "no Date column (found columns: 'Day', 'Open', 'Close')"),
        ("Date,Open,Adj Close", "no Close column (found columns: 'Date', 'Open', 'Adj Close')"),
        ("Date,Close,close", "columns 'Close' and 'close' both hold close"),
        (
            "Date,Adj Close,adj_close,Close",
            "columns 'Adj Close' and 'adj_close' both hold adj_close",
        ),
    ],
)
def test_header_problems_are_on_line_1(tmp_path: Path, header: str, problem: str) -> None:
    width = header.count(",") + 1
    path = write(tmp_path, "IREN.csv", f"{header}\n2024-01-02{',1.0' * (width - 1)}\n")

    expect_error(path, 1, problem)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no data rows (the file is empty)"),
        ("\n\n", "no data rows (the file is empty)"),
        ("Date,Open,High,Low,Close,Adj Close,Volume\n", "no data rows (only a header)"),
        ("Date,Close", "no data rows (only a header)"),
        ("Date,Close\n\n\n", "no data rows (only a header)"),
        ("Price,Close,Open\nTicker,IREN,IREN\nDate,,\n", "no data rows (only a header)"),
    ],
)
def test_no_data_rows(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, "IREN.csv", text)

    expect_error(path, None, problem)


def test_download_ticker_row_naming_another_ticker(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "IREN.csv",
        "Price,Close,Volume\nTicker,MARA,MARA\nDate,,\n2024-01-02,1.0,5\n",
    )

    expect_error(path, 2, "ticker row names MARA but the file is for IREN")


def test_download_ticker_row_naming_several_tickers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "IREN.csv",
        "Price,Close,Close\nTicker,IREN,MARA\nDate,,\n2024-01-02,1.0,2.0\n",
    )

    expect_error(path, 2, "ticker row names several tickers (IREN, MARA)")


def test_download_shape_counts_its_header_rows(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "IREN.csv",
        "Price,Close,Volume\nTicker,IREN,IREN\nDate,,\n2024-01-02,1.0,5\n2024-01-03,?,5\n",
    )

    expect_error(path, 5, "close '?' is not a number")


@pytest.mark.parametrize(
    ("row", "fields"),
    [("2024-01-03,1.1,6,7", 4), ("2024-01-03,1.1", 2)],
)
def test_row_with_the_wrong_number_of_fields(tmp_path: Path, row: str, fields: int) -> None:
    path = write(
        tmp_path,
        "IREN.csv",
        f"Date,Close,Volume\n2024-01-02,1.0,5\n\n{row}\n2024-01-04,1.2,7\n",
    )

    expect_error(path, 4, f"row has {fields} fields but the header has 3")


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "IREN.csv",
        "Date,Close\n2024-01-02,1.0\n\n   \n2024-01-03,1.1\n\n2024-01-04,x\n",
    )

    expect_error(path, 7, "close 'x' is not a number")


def test_line_numbers_count_quoted_line_breaks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "IREN.csv",
        'Date,Close,Note\n2024-01-02,1.0,"two\nlines"\n2024-01-03,bad,x\n',
    )

    expect_error(path, 4, "close 'bad' is not a number")


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "IREN.csv"
    path.write_bytes(b"Date,Close\n2024-01-02,1.0\xff\n")

    expect_error(path, None, "is not UTF-8 text")


def test_price_file_error_fields_and_pickling(tmp_path: Path) -> None:
    error = PriceFileError(tmp_path / "IREN.csv", 17, "close 'abc' is not a number")
    whole_file = PriceFileError(tmp_path / "IREN.csv", None, "no data rows (the file is empty)")

    assert isinstance(error, ValueError)
    assert str(error) == f"{tmp_path}/IREN.csv line 17: close 'abc' is not a number"
    assert str(whole_file) == f"{tmp_path}/IREN.csv: no data rows (the file is empty)"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.line, copy.reason, str(copy)) == (
        error.path,
        error.line,
        error.reason,
        str(error),
    )


# --------------------------------------------------------------------------------------------
# Files and folders


@pytest.mark.parametrize(
    ("name", "ticker"),
    [
        ("IREN.csv", "IREN"),
        ("BTC-USD.csv", "BTC-USD"),
        ("iren.CSV", "IREN"),
        ("brk.b.csv", "BRK.B"),
    ],
)
def test_ticker_from_path(name: str, ticker: str) -> None:
    assert ticker_from_path(Path("/x") / name) == ticker
