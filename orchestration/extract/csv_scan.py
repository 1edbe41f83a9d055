"""A folder of price CSV files into the run's landing: one DuckDB scan of the minimal
``Date,Close`` files and the per-file parser (``csv_source``) for everything else.

Why two paths: a market-wide folder holds thousands of minimal files, and parsing them one by
one in pandas dominated a run (and held the whole history in Python). DuckDB reads them all in
one multi-threaded scan, streamed by the landing step straight into the landing file. The per-file parser stays the
authority on every shape and on every problem: a minimal file the scan finds anything odd in
(a row DuckDB rejects, a date not written YYYY-MM-DD, an empty or non-finite close, a repeated
date, no data rows) is handed to it, and it either reads the file (a timestamp layout it knows)
or raises the error that names the file and line.

The scan checks the rows of each file's fetch window; rows before the window were checked
when they landed and are not landed again.

A company whose symbol changed (``ticker_changes``) may have its file under any of its
symbols. One file is read as usual and landed under the current symbol; several are parsed
one by one and merged, the file under the newer symbol winning on a date both hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from orchestration.atomic import write_text_replacing
from orchestration.extract import csv_source
from orchestration.extract.landing import (
    add_fetched_frame,
    create_temp_table,
    sql_string,
    sql_string_list,
)

MINIMAL_HEADER = "date,close"
# A header line alone (plus a line end) is this long at most: such a file has no data rows.
_HEADER_ONLY_MAX_BYTES = len(MINIMAL_HEADER) + 3
# Files parsed one by one are appended to the fetched table in batches of this many.
_FALLBACK_BATCH_FILES = 500

# Files with at least one row the CSV reader rejected (wrong field count, a close that is not
# a number...), by path.
_REJECTED_FILES_SQL = """(
    select distinct files.file_path
    from scan_rejected_rows as errors
    inner join scan_rejected_files as files
        on errors.scan_id = files.scan_id and errors.file_id = files.file_id
)"""


@dataclass
class FolderScan:
    """What reading the folder did, per ticker."""

    failed: dict[str, str] = field(default_factory=dict)
    # Tickers whose file exists but could not be read (bad input, not absence).
    unreadable: dict[str, str] = field(default_factory=dict)
    scanned_by_duckdb: int = 0
    parsed_one_by_one: int = 0
    # Files not read because they are as they were when their rows landed.
    unchanged: int = 0
    # ticker -> (path, stamp) of every file found, for the next run's landed_stamps (a
    # renamed company may have a file under each of its symbols).
    stamps: dict[str, list[tuple[str, FileStamp]]] = field(default_factory=dict)
    # The minimal files, streamed into the landing file by the landing step.
    streamed: MinimalFilesScan | None = None

    def notes(self) -> list[str]:
        """How the folder was read, for the run's report."""
        return [
            f"CSV folder: {self.scanned_by_duckdb} minimal Date,Close files read in one scan, "
            f"{self.parsed_one_by_one} files of other shapes (or with problems) parsed one by one, "
            f"{self.unchanged} unchanged since they landed (not read)."
        ]

    def landed_stamps(self) -> dict[str, FileStamp]:
        """The stamps to record once this run's rows landed: every file read without failing
        (or not read because unchanged). Failed files are left out, so they are read again."""
        return {
            path: stamp
            for ticker, files in self.stamps.items()
            if ticker not in self.failed
            for path, stamp in files
        }


FileStamp = tuple[int, int]  # (size in bytes, modification time in ns)


def _stamp(path: Path) -> FileStamp | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns


def read_landed_stamps(path: Path) -> dict[str, FileStamp]:
    """The stamps recorded by ``write_landed_stamps`` (empty when there are none)."""
    if not path.exists():
        return {}
    return {name: (size, mtime) for name, (size, mtime) in json.loads(path.read_text()).items()}


def write_landed_stamps(path: Path, stamps: Mapping[str, FileStamp]) -> None:
    """Record the stamps of the files whose rows are landed, replacing the previous record
    whole (a cache of what is known landed, not landing data: rewriting it loses nothing)."""
    write_text_replacing(path, json.dumps(dict(sorted(stamps.items()))))


def has_minimal_header(path: Path) -> bool:
    """True when the file's first line is exactly ``Date,Close`` (any case, BOM and spaces
    ignored): the one shape the DuckDB scan reads."""
    with path.open("rb") as handle:
        first_line = handle.readline(64)
    text = first_line.decode("utf-8-sig", errors="replace").strip().lower().replace(" ", "")
    return text == MINIMAL_HEADER


def scan_price_folder(
    connection: duckdb.DuckDBPyConnection,
    csv_dir: Path,
    windows: Mapping[str, date | None],
    price_source: str,
    landed_stamps: Mapping[str, FileStamp] | None = None,
    former_symbols: Mapping[str, Sequence[str]] | None = None,
) -> FolderScan:
    """Prepare reading every requested ticker's file (inside its window): files of other
    shapes are parsed now into the fetched table; the minimal ones are streamed by the landing
    step (``FolderScan.streamed``). A requested ticker without a file, with two files, or with
    a file that cannot be read is a failure; the other files are read regardless.

    ``landed_stamps`` (see ``read_landed_stamps``) are the size and modification time of every
    file as it was when its rows last landed: a file that still has them, of a ticker with
    landed rows (a window start), is not read again. Its rows are landed already.

    ``former_symbols`` (current ticker -> earlier symbols, newest first) lets a renamed
    company's history come from files under its earlier symbols, landed under the current one.
    """
    groups = csv_source.group_price_files(Path(csv_dir))
    scan = FolderScan()
    minimal: dict[str, Path] = {}
    one_by_one: dict[str, list[Path]] = {}
    for ticker in sorted(windows):
        symbols = [ticker, *(former_symbols or {}).get(ticker, ())]
        files = {symbol: groups[symbol] for symbol in symbols if symbol in groups}
        if not files:
            names = " or ".join(f"{symbol}.csv" for symbol in symbols)
            scan.failed[ticker] = f"no file {names} in {csv_dir}"
            continue
        duplicated = [(symbol, paths) for symbol, paths in files.items() if len(paths) > 1]
        if duplicated:
            symbol, paths = duplicated[0]
            scan.failed[ticker] = scan.unreadable[ticker] = str(
                csv_source.duplicate_file_error(symbol, paths)
            )
            continue
        # Newest symbol first: the order in which files win a date they share.
        paths = [paths[0] for paths in files.values()]
        stamps = [_stamp(path) for path in paths]
        scan.stamps[ticker] = [
            (str(path), stamp) for path, stamp in zip(paths, stamps, strict=True) if stamp
        ]
        if windows[ticker] is not None and all(
            stamp is not None and (landed_stamps or {}).get(str(path)) == stamp
            for path, stamp in zip(paths, stamps, strict=True)
        ):
            scan.unchanged += 1
        elif len(paths) == 1 and _worth_scanning(paths[0], stamps[0]):
            minimal[ticker] = paths[0]
        else:
            one_by_one[ticker] = paths
    scan.parsed_one_by_one = len(one_by_one)
    _parse_one_by_one(connection, one_by_one, price_source, scan)
    if minimal:
        scan.streamed = MinimalFilesScan(connection, minimal, windows, price_source, scan)
    return scan


def _worth_scanning(path: Path, stamp: FileStamp | None) -> bool:
    """A minimal file with data rows (``stamp``: its size and mtime, None if unreadable)."""
    if stamp is None:
        return False  # the per-file parser reports it
    size, _ = stamp
    try:
        return size > _HEADER_ONLY_MAX_BYTES and has_minimal_header(path)
    except OSError:
        return False


class MinimalFilesScan:
    """The minimal files as one DuckDB ``read_csv`` streamed into the landing file
    (``landing.StreamedRows``), and the check of what it wrote."""

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        files: Mapping[str, Path],
        windows: Mapping[str, date | None],
        price_source: str,
        scan: FolderScan,
    ) -> None:
        self.files = dict(files)
        self.price_source = price_source
        self.scan = scan
        scan.scanned_by_duckdb = len(self.files)
        tickers = list(self.files)
        files_table = pa.table(
            {
                "path": [str(self.files[ticker]) for ticker in tickers],
                "ticker": tickers,
                "window_start": [windows[ticker] for ticker in tickers],
            },
            schema=pa.schema(
                [("path", pa.string()), ("ticker", pa.string()), ("window_start", pa.date32())]
            ),
        )
        create_temp_table(connection, "scan_files", files_table)

    def select_sql(self) -> str:
        # COPY takes no parameters, so the file list is a literal. Date is read as text: only
        # a YYYY-MM-DD date is taken here, anything else goes to the parser (which knows
        # yfinance's timestamp layouts and refuses ambiguous ones). Rows whose date does not
        # parse are kept whatever the window, so that vet() sees them.
        paths = sql_string_list(str(path) for path in self.files.values())
        return f"""
            select
                scan_files.ticker,
                case when length(raw.Date) = 10 then try_cast(raw.Date as date) end as date,
                cast(null as double) as open,
                cast(null as double) as high,
                cast(null as double) as low,
                raw.Close as close,
                raw.Close as adj_close,
                cast(null as double) as volume,
                {sql_string(self.price_source)} as price_source
            from read_csv(
                {paths},
                header = true,
                auto_detect = false,
                delim = ',',
                quote = '"',
                columns = {{'Date': 'VARCHAR', 'Close': 'DOUBLE'}},
                filename = true,
                store_rejects = true,
                rejects_table = 'scan_rejected_rows',
                rejects_scan = 'scan_rejected_files'
            ) as raw
            inner join scan_files on raw.filename = scan_files.path
            where
                scan_files.window_start is null
                or length(raw.Date) <> 10
                or try_cast(raw.Date as date) is null
                or try_cast(raw.Date as date) >= scan_files.window_start
        """

    def vet(self, connection: duckdb.DuckDBPyConnection, summary: str) -> set[str]:
        """The tickers with anything odd among their written rows (a row without a usable date
        or close, a repeated date) or a row the reader rejected; their files go to the
        per-file parser, whose rows replace them."""
        doubtful = {
            ticker
            for (ticker,) in connection.execute(
                f"""
                select scan_files.ticker
                from {_REJECTED_FILES_SQL} as rejected
                inner join scan_files on rejected.file_path = scan_files.path
                union
                select ticker
                from {summary}
                where unusable_rows > 0 or rows <> dates
                """
            ).fetchall()
        }
        doubtful &= set(self.files)
        self.scan.scanned_by_duckdb = len(self.files) - len(doubtful)
        self.scan.parsed_one_by_one += len(doubtful)
        _parse_one_by_one(
            connection,
            {ticker: [self.files[ticker]] for ticker in doubtful},
            self.price_source,
            self.scan,
        )
        return doubtful


def _parse_one_by_one(
    connection: duckdb.DuckDBPyConnection,
    files: Mapping[str, Sequence[Path]],
    price_source: str,
    scan: FolderScan,
) -> None:
    """The per-file parser for the files the scan does not take, appended in batches.
    ``files`` holds each ticker's files, newest symbol first."""
    batch: list[pd.DataFrame] = []
    for ticker, paths in sorted(files.items()):
        try:
            batch.append(read_under_current_symbol(paths, ticker))
        except (csv_source.PriceFileError, OSError) as exc:
            scan.failed[ticker] = scan.unreadable[ticker] = str(exc)
        if len(batch) >= _FALLBACK_BATCH_FILES:
            add_fetched_frame(connection, pd.concat(batch, ignore_index=True), price_source)
            batch = []
    if batch:
        add_fetched_frame(connection, pd.concat(batch, ignore_index=True), price_source)


def read_under_current_symbol(paths: Sequence[Path], ticker: str) -> pd.DataFrame:
    """A company's files (newest symbol first) as one history under ``ticker``: on a date
    several files hold, the first file's row wins. Each file is parsed as its own symbol, so
    a yf.download ``Ticker`` row naming the old symbol is still checked against its file name.
    """
    frames = [csv_source.read_price_csv(path).assign(ticker=ticker) for path in paths]
    for frame in frames:
        frame["ticker"] = frame["ticker"].astype("string")
    if len(frames) == 1:
        return frames[0]
    merged = pd.concat(frames, ignore_index=True).drop_duplicates(subset="date", keep="first")
    return merged.sort_values("date", kind="stable").reset_index(drop=True)
