"""One per-ticker CSV price file (``IREN.csv``, ``BTC-USD.csv``, ...) into the standard frame.

People hand us files exported from yfinance in several shapes, and we land them unedited, so
this parser accepts every shape we have seen and refuses everything it would have to guess:

1. ``Ticker.history().to_csv()``: ``Date,Open,High,Low,Close,Adj Close,Volume`` (optionally
   ``Dividends,Stock Splits``), ``Date`` a timestamp with a UTC offset.
2. ``yf.download(...).to_csv()`` for one ticker: a field row labelled ``Price``, a ``Ticker``
   row, and (yfinance 1.x) a ``Date,,,`` row before the data.
3. Any case or spelling of the names (``close``, ``Adj Close``, ``adj_close``, ``adjclose``),
   with extra columns (``Log_Return``, ``Dividends``) ignored.
4. The minimal ``Date,Close``.

The ticker comes from the file name, because shapes 1, 3 and 4 do not carry it.

Every problem is a :class:`PriceFileError` naming the file and the physical line (header =
line 1), so whoever owns the file can fix it. One ``pandas.read_csv`` per file with every cell
read as text, then vectorised conversion, keeps a 12,000-file folder fast; line numbers (and
the slower cell-by-cell diagnosis) are worked out only when there is an error to report.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from orchestration.extract.schema import normalize_price_frame

# yfinance stamps daily bars with the exchange-local midnight; for US listings that is New York.
EXCHANGE_TZ = "America/New_York"

CSV_SUFFIX = ".csv"

# Normalised header name (lower case, no spaces, underscores or hyphens) -> standard column.
_NAME_TO_COLUMN: dict[str, str] = {
    "date": "date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adjclose": "adj_close",
    "volume": "volume",
}
_NAME_NOISE = re.compile(r"[\s_\-]+")

# Empty cells are NaN in these columns. An empty close or adj_close is an error instead: every
# return downstream is computed from them, so a gap there must be fixed in the file.
_OPTIONAL_VALUES: tuple[str, ...] = ("open", "high", "low", "volume")
_REQUIRED_VALUES: tuple[str, ...] = ("close", "adj_close")

# First cells of the extra header rows that ``yf.download(...).to_csv()`` writes.
_DOWNLOAD_FIELD_LABEL = "price"
_DOWNLOAD_TICKER_LABEL = "ticker"
_DOWNLOAD_DATE_LABEL = "date"

# ISO 8601 only: YYYY-MM-DD, optionally a time, optionally (after a time) a UTC offset.
# Anything else (``1/2/2024``, ``2024-01``) is refused: day/month order would be a guess.
_STAMP_PATTERN = (
    r"^(?P<day>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)"
    r"\s*(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?)?$"
)
# The layouts yfinance writes, parsed with an exact format (fast); anything else, or a file
# mixing layouts, goes through _STAMP_PATTERN (slower, and it says which stamp is bad). All
# stamps of a file must have the first one's length, which also keeps strptime from accepting
# an unpadded "2024-1-2" here that the general path refuses.
_FAST_LAYOUTS: tuple[tuple[re.Pattern[str], str, bool], ...] = (
    (re.compile(r"\d{4}-\d{2}-\d{2}"), "%Y-%m-%d", False),
    (re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"), "%Y-%m-%d %H:%M:%S", False),
    (
        re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}"),
        "%Y-%m-%d %H:%M:%S%z",
        True,
    ),
)
_PANDAS_LINE = re.compile(r"line (\d+)")
_DATE_DTYPE = "datetime64[ns]"


class PriceFileError(ValueError):
    """A price file we refuse to load, with where and why, so its owner can fix it.

    ``line`` is the 1-based physical line (header = line 1), or None when the problem is the
    file as a whole (empty, no data rows, not UTF-8, two files for one ticker).
    """

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        super().__init__(self.path, line, reason)

    def __str__(self) -> str:
        where = f"{self.path} line {self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class _Header:
    """What the header rows of a file told us."""

    names: list[str]  # the field row, the date column named "Date"
    line_count: int  # physical lines taken by the header rows
    tickers: frozenset[str] = frozenset()  # tickers named by a yf.download "Ticker" row
    ticker_line: int | None = None  # the physical line of that row


@dataclass(frozen=True)
class _Body:
    """The data rows of one file as text, and how to point at one of them in an error."""

    path: Path
    header: _Header
    text: str

    def records(self) -> list[tuple[int, list[str]]]:
        """(physical line, fields) of every non-blank data row: the slow, exact walk.

        Blank lines are skipped exactly as ``pandas.read_csv`` skips them, so position i here
        is row i of the parsed frame.
        """
        records: list[tuple[int, list[str]]] = []
        first_line = self.header.line_count + 1
        reader = csv.reader(io.StringIO(self.text))
        start = first_line
        for fields in reader:
            if fields and (len(fields) > 1 or fields[0].strip()):
                records.append((start, fields))
            start = first_line + reader.line_num
        return records

    def error(self, row: int, reason: str) -> PriceFileError:
        """The error for data row ``row`` (0-based position in the parsed frame)."""
        return PriceFileError(self.path, self.records()[row][0], reason)


@dataclass(frozen=True)
class _RowProblem:
    """The first bad data row one check found (``row`` is the 0-based data row position)."""

    row: int
    reason: str


# --------------------------------------------------------------------------------------------
# Files and tickers


def ticker_from_path(path: Path) -> str:
    """The ticker a file holds: its name without ``.csv``, upper-cased (``btc-usd.csv`` -> BTC-USD).

    The name is the only place most shapes carry the ticker, so it is authoritative.
    """
    name = Path(path).name
    stem = name[: -len(CSV_SUFFIX)] if name.lower().endswith(CSV_SUFFIX) else Path(name).stem
    ticker = stem.strip().upper()
    if not ticker:
        raise PriceFileError(Path(path), None, "the file name holds no ticker")
    return ticker


# --------------------------------------------------------------------------------------------
# One file


def read_price_csv(path: Path, ticker: str | None = None) -> pd.DataFrame:
    """Parse one price file into the standard price frame (see ``schema.PRICE_COLUMNS``).

    ``ticker`` defaults to the file name's; it is upper-cased, and a yf.download ``Ticker`` row
    naming another ticker is an error. Raises PriceFileError for anything we would otherwise
    have to drop or guess: bad dates or numbers, duplicate dates, missing Date/Close columns,
    rows with the wrong number of fields, no data rows.
    """
    return normalize_price_frame(_parse_price_csv(Path(path), ticker))


def _parse_price_csv(path: Path, ticker: str | None) -> pd.DataFrame:
    """``read_price_csv`` without the final normalisation, which the folder reader does once."""
    ticker = ticker_from_path(path) if ticker is None else ticker.strip().upper()
    text = _read_text(path)
    header = _parse_header(path, text)
    # A multi-ticker download repeats every field name: say so, not "two Close columns".
    _check_header_tickers(path, header, ticker)
    columns = _map_columns(path, header.names)
    body = _Body(path, header, _data_section(text, header.line_count))
    cells = _read_cells(body)
    _check_field_counts(body, cells)
    return _build_frame(body, cells, columns, ticker)


def _read_text(path: Path) -> str:
    """The whole file as text with ``\\n`` line ends (a BOM from Excel is dropped)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PriceFileError(path, None, f"is not UTF-8 text ({exc.reason})") from exc


def _split_row(line: str) -> list[str]:
    """One CSV line's cells, with CSV quoting rules."""
    return next(csv.reader([line]), [])


def _parse_header(path: Path, text: str) -> _Header:
    """Recognise the header rows: a plain field row, or yf.download's Price/Ticker/Date rows."""
    if not text.strip():
        raise PriceFileError(path, None, "no data rows (the file is empty)")
    lines = text.split("\n", 3)
    names = _split_row(lines[0])
    if not names or names[0].strip().lower() != _DOWNLOAD_FIELD_LABEL:
        return _Header(names, line_count=1)
    # yf.download: the first column is the date index, labelled "Price" on the field row.
    names = ["Date", *names[1:]]
    line_count = 1
    tickers: frozenset[str] = frozenset()
    ticker_line: int | None = None
    for line in lines[1:3]:
        cells = _split_row(line)
        label = cells[0].strip().lower() if cells else ""
        if label == _DOWNLOAD_TICKER_LABEL:
            tickers = frozenset(cell.strip().upper() for cell in cells[1:] if cell.strip())
            ticker_line = line_count + 1
        elif label != _DOWNLOAD_DATE_LABEL or any(cell.strip() for cell in cells[1:]):
            break
        line_count += 1
    return _Header(names, line_count, tickers, ticker_line)


def _map_columns(path: Path, names: list[str]) -> dict[str, int]:
    """Standard column -> position in the file; Date and Close must be there, once each."""
    positions: dict[str, int] = {}
    for position, name in enumerate(names):
        column = _NAME_TO_COLUMN.get(_NAME_NOISE.sub("", name.lower()))
        if column is None:
            continue
        if column in positions:
            first = names[positions[column]]
            raise PriceFileError(path, 1, f"columns {first!r} and {name!r} both hold {column}")
        positions[column] = position
    for column, label in (("date", "Date"), ("close", "Close")):
        if column not in positions:
            found = ", ".join(repr(name) for name in names) if any(names) else "none"
            raise PriceFileError(path, 1, f"no {label} column (found columns: {found})")
    return positions


def _check_header_tickers(path: Path, header: _Header, ticker: str) -> None:
    """A yf.download Ticker row must name this file's ticker and no other."""
    if not header.tickers:
        return
    if len(header.tickers) > 1:
        named = ", ".join(sorted(header.tickers))
        reason = f"ticker row names several tickers ({named}), expected one"
        raise PriceFileError(path, header.ticker_line, reason)
    (named,) = header.tickers
    if named != ticker:
        reason = f"ticker row names {named} but the file is for {ticker}"
        raise PriceFileError(path, header.ticker_line, reason)


def _data_section(text: str, header_lines: int) -> str:
    """The text after the header rows."""
    parts = text.split("\n", header_lines)
    return parts[header_lines] if len(parts) > header_lines else ""


def _read_cells(body: _Body) -> pd.DataFrame:
    """Every data cell as a Python str (columns by position), blank lines skipped."""
    try:
        cells = pd.read_csv(
            io.BytesIO(body.text.encode("utf-8")),
            header=None,
            dtype=object,
            na_filter=False,
            index_col=False,
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError:
        cells = pd.DataFrame()
    except pd.errors.ParserError as exc:
        # Almost always a row with too many fields: find it ourselves for an exact line.
        _check_field_counts(body, None)
        match = _PANDAS_LINE.search(str(exc))
        line = int(match.group(1)) + body.header.line_count if match else None
        raise PriceFileError(body.path, line, f"not a readable CSV row ({exc})") from exc
    if cells.empty:
        raise PriceFileError(body.path, None, "no data rows (only a header)")
    return cells


def _check_field_counts(body: _Body, cells: pd.DataFrame | None) -> None:
    """Every data row must have as many fields as the header, or its values would shift.

    The fast path counts commas (exact when no cell is quoted); only a mismatch, or quoting,
    makes us walk the rows one by one.
    """
    width = len(body.header.names)
    if (
        cells is not None
        and cells.shape[1] == width
        and '"' not in body.text
        and body.text.count(",") == (width - 1) * len(cells)
    ):
        return
    for line, fields in body.records():
        if len(fields) != width:
            reason = f"row has {len(fields)} fields but the header has {width}"
            raise PriceFileError(body.path, line, reason)


def _build_frame(
    body: _Body, cells: pd.DataFrame, columns: dict[str, int], ticker: str
) -> pd.DataFrame:
    """Convert the text cells, raising on the bad row that comes first in the file."""
    dates, date_problem = _parse_trading_dates(cells[columns["date"]].to_numpy(dtype=object))
    problems = [date_problem]
    values: dict[str, np.ndarray] = {}
    for column in (*_REQUIRED_VALUES, *_OPTIONAL_VALUES):
        if column in columns:
            text = cells[columns[column]].to_numpy(dtype=object)
            values[column], problem = _parse_numbers(text, column, column in _REQUIRED_VALUES)
            problems.append(problem)
    found = [problem for problem in problems if problem is not None]
    if found:
        first = min(found, key=lambda problem: problem.row)  # on a tie the date comes first
        raise body.error(first.row, first.reason)
    _check_unique_dates(body, dates)
    missing = np.full(len(cells), np.nan)
    return pd.DataFrame(
        {
            "ticker": ticker,
            "date": dates,
            "open": values.get("open", missing),
            "high": values.get("high", missing),
            "low": values.get("low", missing),
            "close": values["close"],
            "adj_close": values.get("adj_close", values["close"]),
            "volume": values.get("volume", missing),
        }
    )


# --------------------------------------------------------------------------------------------
# Cell conversion


def _parse_trading_dates(cells: np.ndarray) -> tuple[np.ndarray, _RowProblem | None]:
    """The trading date of each stamp (NaT where invalid), and the first invalid stamp.

    A stamp with a UTC offset is an exchange-local midnight. If its own wall clock reads
    midnight (``00:00:00-05:00``, or a crypto ``00:00:00+00:00``) its written date is the
    trading date. Otherwise it was converted to another zone (yfinance writes New York midnight
    as ``05:00:00+00:00`` / ``04:00:00+00:00``), so convert it back to New York and take that
    date. Stamps without an offset are taken as written.
    """
    dates = _fast_trading_dates(cells)
    if dates is None:
        dates = _any_trading_dates(cells)
    bad = np.isnat(dates)
    if not bad.any():
        return dates, None
    row = int(bad.argmax())
    value = str(cells[row]).strip()
    reason = (
        "date is empty"
        if not value
        else f"date {value!r} is not a date (expected YYYY-MM-DD, optionally with a time, "
        "between 1677-09-22 and 2262-04-11)"
    )
    return dates, _RowProblem(row, reason)


def _fast_trading_dates(cells: np.ndarray) -> np.ndarray | None:
    """Trading dates of a file written in one of yfinance's layouts, else None.

    One exact-format parse for the whole column; a stamp that does not fit the first stamp's
    layout sends the file to the general path, which also says which stamp is bad.
    """
    layout = _fast_layout(cells[0])
    if layout is None:
        return None
    fmt, has_offset = layout
    width = len(cells[0])
    if not all(len(cell) == width for cell in cells):
        return None
    stamps = pd.DatetimeIndex(pd.to_datetime(cells, format=fmt, errors="coerce", utc=has_offset))
    if stamps.hasnans:
        return None
    if not has_offset:
        return _nanosecond_dates(stamps.normalize())
    exchange = stamps.tz_convert(EXCHANGE_TZ).tz_localize(None).normalize()
    dates = _nanosecond_dates(exchange)
    midnight = np.fromiter((cell[11:19] == "00:00:00" for cell in cells), bool, len(cells))
    if midnight.any():
        written = pd.to_datetime([cell[:10] for cell in cells[midnight]], format="%Y-%m-%d")
        dates[midnight] = _nanosecond_dates(written)
    return dates


# The dates a datetime64[ns] can hold. pandas parses a stamp outside them (1600-01-03) with a
# coarser unit, and a plain cast to nanoseconds wraps it silently (1600-01-03 became 2184-07-22).
_FIRST_NS_DATE = np.datetime64("1677-09-22", "us")
_LAST_NS_DATE = np.datetime64("2262-04-11", "us")


def _nanosecond_dates(values: object) -> np.ndarray:
    """``values`` (tz-naive datetimes of any unit) as datetime64[ns], NaT where a date is
    outside what nanoseconds can hold: the row is then reported as a bad date, never wrapped."""
    dates = np.array(values, dtype="datetime64[us]")
    dates[(dates < _FIRST_NS_DATE) | (dates > _LAST_NS_DATE)] = np.datetime64("NaT")
    return dates.astype(_DATE_DTYPE)


def _fast_layout(stamp: object) -> tuple[str, bool] | None:
    """(exact format, has a UTC offset) of a stamp in one of yfinance's layouts, else None."""
    for pattern, fmt, has_offset in _FAST_LAYOUTS:
        if isinstance(stamp, str) and pattern.fullmatch(stamp):
            return fmt, has_offset
    return None


def _any_trading_dates(cells: np.ndarray) -> np.ndarray:
    """Trading dates of stamps in any accepted ISO 8601 layout, mixed freely; NaT if invalid."""
    text = pd.Series(cells, dtype=object).astype(str).str.strip()
    parts = text.str.extract(_STAMP_PATTERN)
    local = pd.to_datetime(
        parts["day"] + " " + parts["time"].fillna("00:00:00"), format="ISO8601", errors="coerce"
    )
    dates = _nanosecond_dates(local.dt.normalize())
    shifted = (parts["offset"].notna() & local.notna() & (local != local.dt.normalize())).to_numpy()
    if shifted.any():
        stamps = pd.DatetimeIndex(pd.to_datetime(text[shifted], format="ISO8601", utc=True))
        exchange = stamps.tz_convert(EXCHANGE_TZ).tz_localize(None).normalize()
        dates[shifted] = _nanosecond_dates(exchange)
    return dates


def _parse_numbers(
    cells: np.ndarray, column: str, required: bool
) -> tuple[np.ndarray, _RowProblem | None]:
    """Floats from text cells, and the first cell that is not a finite number.

    An empty cell is NaN where the column is optional and an error where it is required.
    Conversion is Python's ``float`` either way, so values are exactly what the file says.
    """
    try:
        numbers = cells.astype(np.float64)
    except (TypeError, ValueError):  # an empty or non-numeric cell: find out which
        return _parse_numbers_one_by_one(cells, column, required)
    if np.isfinite(numbers).all():
        return numbers, None
    return _parse_numbers_one_by_one(cells, column, required)


def _parse_numbers_one_by_one(
    cells: np.ndarray, column: str, required: bool
) -> tuple[np.ndarray, _RowProblem | None]:
    """The slow path of ``_parse_numbers``, for columns with empty or bad cells."""
    numbers = np.full(len(cells), np.nan)
    for row, cell in enumerate(cells):
        text = str(cell).strip()
        if not text:
            if required:
                return numbers, _RowProblem(row, f"{column} is empty")
            continue
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            return numbers, _RowProblem(row, f"{column} {text!r} is not a number")
        numbers[row] = number
    return numbers, None


def _check_unique_dates(body: _Body, dates: np.ndarray) -> None:
    """One row per trading date: a repeat means the export went wrong, and we will not pick."""
    repeated = pd.Index(dates).duplicated(keep="first")
    if not repeated.any():
        return
    row = int(repeated.argmax())
    first_row = int((dates == dates[row]).argmax())
    lines = [line for line, _ in body.records()]
    day = str(dates[row])[:10]
    reason = f"duplicate date {day} (first on line {lines[first_row]})"
    raise PriceFileError(body.path, lines[row], reason)
