"""A folder of price CSV files into the run's fetched table, with one DuckDB scan of the
minimal ``Date,Close`` files and the per-file parser (``csv_source``) for everything else.

Why two paths: a market-wide folder holds thousands of minimal files, and parsing them one by
one in pandas dominated a run (and held the whole history in Python). DuckDB reads them all in
one multi-threaded scan straight into the scratch database. The per-file parser stays the
authority on every shape and on every problem: a minimal file the scan finds anything odd in
(a row DuckDB rejects, a date not written YYYY-MM-DD, an empty or non-finite close, a repeated
date, no data rows) is handed to it, and it either reads the file (a timestamp layout it knows)
or raises the error that names the file and line.

The scan checks the rows of each file's fetch window; rows before the window were checked
when they landed and are not landed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from orchestration.extract import csv_source
from orchestration.extract.landing import FETCHED_TABLE, add_fetched_frame

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
) -> FolderScan:
    """Append the rows of every requested ticker's file (inside its window) to the fetched
    table. A requested ticker without a file, with two files, or with a file that cannot be
    read is a failure; the other files are read regardless."""
    groups = csv_source.group_price_files(Path(csv_dir))
    scan = FolderScan()
    minimal: dict[str, Path] = {}
    one_by_one: dict[str, Path] = {}
    for ticker in sorted(windows):
        paths = groups.get(ticker, [])
        if not paths:
            scan.failed[ticker] = f"no file {ticker}.csv in {csv_dir}"
        elif len(paths) > 1:
            scan.failed[ticker] = scan.unreadable[ticker] = str(
                csv_source.duplicate_file_error(ticker, paths)
            )
        elif _worth_scanning(paths[0]):
            minimal[ticker] = paths[0]
        else:
            one_by_one[ticker] = paths[0]
    doubtful = _scan_minimal_files(connection, minimal, windows, price_source)
    scan.scanned_by_duckdb = len(minimal) - len(doubtful)
    one_by_one.update({ticker: minimal[ticker] for ticker in doubtful})
    scan.parsed_one_by_one = len(one_by_one)
    _parse_one_by_one(connection, one_by_one, price_source, scan)
    return scan


def _worth_scanning(path: Path) -> bool:
    try:
        return path.stat().st_size > _HEADER_ONLY_MAX_BYTES and has_minimal_header(path)
    except OSError:
        return False  # the per-file parser reports it


def _scan_minimal_files(
    connection: duckdb.DuckDBPyConnection,
    files: Mapping[str, Path],
    windows: Mapping[str, date | None],
    price_source: str,
) -> set[str]:
    """Scan the minimal files in one read_csv into a staging table; append the tickers whose
    rows are all sound to the fetched table and return the others (for the per-file parser)."""
    if not files:
        return set()
    tickers = list(files)
    connection.register(
        "scan_files_arrow",
        pa.table(
            {
                "path": [str(files[ticker]) for ticker in tickers],
                "ticker": tickers,
                "window_start": [windows[ticker] for ticker in tickers],
            },
            schema=pa.schema(
                [("path", pa.string()), ("ticker", pa.string()), ("window_start", pa.date32())]
            ),
        ),
    )
    connection.execute("create or replace temp table scan_files as select * from scan_files_arrow")
    connection.unregister("scan_files_arrow")
    # Date is read as text: only a YYYY-MM-DD date is taken here, anything else goes to the
    # parser (which knows yfinance's timestamp layouts and refuses ambiguous ones). Rows whose
    # date does not parse are kept whatever the window, so they are noticed.
    connection.execute(
        """
        create or replace temp table scanned_rows as
        select
            scan_files.ticker,
            case
                when length(raw.Date) = 10 then try_cast(raw.Date as date)
            end as date,
            raw.Close as close
        from read_csv(
            $paths,
            header = true,
            auto_detect = false,
            delim = ',',
            quote = '"',
            columns = {'Date': 'VARCHAR', 'Close': 'DOUBLE'},
            filename = true,
            store_rejects = true,
            rejects_table = 'scan_rejected_rows',
            rejects_scan = 'scan_rejected_files'
        ) as raw
        inner join scan_files on raw.filename = scan_files.path
        where
            scan_files.window_start is null
            or raw.Date is null
            or length(raw.Date) <> 10
            or try_cast(raw.Date as date) is null
            or try_cast(raw.Date as date) >= scan_files.window_start
        """,
        {"paths": [str(files[ticker]) for ticker in tickers]},
    )
    doubtful = {
        ticker
        for (ticker,) in connection.execute(
            f"""
            select scan_files.ticker
            from {_REJECTED_FILES_SQL} as rejected
            inner join scan_files on rejected.file_path = scan_files.path
            union
            select ticker
            from scanned_rows
            group by ticker
            having
                count(*) filter (
                    where date is null or close is null or not isfinite(close)
                ) > 0
                or count(*) <> count(distinct date)
            """
        ).fetchall()
    }
    connection.execute(
        f"""
        insert into {FETCHED_TABLE}
        select ticker, date, null, null, null, close, close, null, $price_source
        from scanned_rows
        where ticker not in (select unnest($doubtful))
        """,
        {"price_source": price_source, "doubtful": sorted(doubtful)},
    )
    connection.execute("drop table scanned_rows")
    return doubtful


def _parse_one_by_one(
    connection: duckdb.DuckDBPyConnection,
    files: Mapping[str, Path],
    price_source: str,
    scan: FolderScan,
) -> None:
    """The per-file parser for the files the scan does not take, appended in batches."""
    batch: list[pd.DataFrame] = []
    for ticker, path in sorted(files.items()):
        try:
            batch.append(csv_source.read_price_csv(path, ticker))
        except (csv_source.PriceFileError, OSError) as exc:
            scan.failed[ticker] = scan.unreadable[ticker] = str(exc)
        if len(batch) >= _FALLBACK_BATCH_FILES:
            add_fetched_frame(connection, pd.concat(batch, ignore_index=True), price_source)
            batch = []
    if batch:
        add_fetched_frame(connection, pd.concat(batch, ignore_index=True), price_source)
