"""A folder of per-ticker price CSV files as a price source: the folder's listing (one
ticker per file, a duplicate a failed ticker), one DuckDB scan of the minimal ``Date,Close``
files and the per-file parser (``csv_file``) for everything else.

Why two paths: a market-wide folder holds thousands of minimal files, and parsing them one by
one in pandas dominated a run (and held the whole history in Python). DuckDB reads them all in
one multi-threaded scan, streamed by the landing step straight into the landing file. The per-file parser stays the
authority on every shape and on every problem: a minimal file the scan finds anything odd in
(a row DuckDB rejects, a date not written YYYY-MM-DD, an empty or non-finite close, a repeated
date, no data rows) is handed to it, and it either reads the file (a timestamp layout it knows)
or raises the error that names the file and line.

The scan checks the rows of each file's fetch window; rows before the window were checked
when they landed and are not landed again.

A market-wide export grows by one line a file a day, so a file is not read whole again when
its landed part is unchanged. Each file's record (``FileRecord``: size, modification time and
a hash of its last 4 KiB, the landed tail, about 130 daily lines) decides, per run:
- same size and modification time: unchanged, not opened;
- otherwise, when the fetch window starts within the hashed tail (as a daily run's does: the
  watermark minus the re-fetch days) and the bytes before the previous end still hash the
  same, the window's rows are unchanged: a file of the same size (copied, touched) is not
  read, a grown one has only its new bytes read; when those are anything but plain
  ``YYYY-MM-DD,<number>`` lines dated after the previous last date, the per-file parser reads
  the whole file instead;
- anything else (shrunk, a changed tail, a window reaching further back, no record): the whole
  file is read.
Rows before the window are never compared with what has landed, whole read or not; a
re-exported history with revised prices (a split or dividend adjusts every earlier close)
changes the tail, and so is read whole.

A company whose symbol changed (``ticker_changes``) may have its file under any of its
symbols. One file is read as usual and landed under the current symbol; several are parsed
one by one and merged, the file under the newer symbol winning on a date both hold.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pyarrow as pa

from orchestration.atomic import write_text_replacing
from orchestration.extract.scratch import (
    add_fetched_frame,
    create_temp_table,
    sql_string,
    sql_string_list,
)
from orchestration.extract.sources import SourceFetch
from orchestration.extract.sources.csv_file import (
    CSV_SUFFIX,
    PriceFileError,
    read_price_csv,
    ticker_from_path,
)
from orchestration.extract.ticker_changes import (
    TickerChange,
    current_symbols,
    former_symbols,
    to_current,
)

if TYPE_CHECKING:
    from orchestration.extract.landing import LandedBatch

CSV_SOURCE = "csv"
MINIMAL_HEADER = "date,close"
# A header line alone (plus a line end) is this long at most: such a file has no data rows.
_HEADER_ONLY_MAX_BYTES = len(MINIMAL_HEADER) + 3
# Rows DuckDB's reader rejects are kept in these tables, for rejected_tickers.
STORE_REJECTS = (
    "store_rejects = true, rejects_table = 'scan_rejected_rows', "
    "rejects_scan = 'scan_rejected_files'"
)
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

FileStamp = tuple[int, int]  # (size in bytes, modification time in ns)
# The landed tail: a file's last bytes before its recorded size, hashed.
TAIL_BYTES = 4096


# --------------------------------------------------------------------------------------------
# The folder's listing


def _is_price_file(path: Path) -> bool:
    """A visible regular file ending in .csv (any case); dotfiles are editor/OS leftovers."""
    name = path.name
    return name.lower().endswith(CSV_SUFFIX) and not name.startswith(".") and path.is_file()


def group_price_files(csv_dir: Path) -> dict[str, list[Path]]:
    """Every price file of the folder by ticker (its file name, upper-cased), sorted by ticker
    then file name. A ticker with several files (``IREN.csv`` and ``iren.csv``) keeps them
    all: the reader fails that ticker alone (``duplicate_file_error``)."""
    csv_dir = Path(csv_dir)
    if not csv_dir.exists():
        raise FileNotFoundError(f"CSV price folder {csv_dir} does not exist")
    if not csv_dir.is_dir():
        raise NotADirectoryError(f"CSV price folder {csv_dir} is not a directory")
    groups: dict[str, list[Path]] = {}
    for path in sorted(csv_dir.iterdir()):
        if _is_price_file(path):
            groups.setdefault(ticker_from_path(path), []).append(path)
    return dict(sorted(groups.items()))


def duplicate_file_error(ticker: str, paths: list[Path]) -> PriceFileError:
    """Two files for one ticker (``IREN.csv`` and ``iren.csv``): we will not pick one."""
    names = ", ".join(path.name for path in paths)
    return PriceFileError(paths[1], None, f"files {names} all hold ticker {ticker}")


# --------------------------------------------------------------------------------------------
# File records: files unchanged since their rows landed are not read again, grown files only
# from their previous end


@dataclass(frozen=True)
class FileRecord:
    """What a run knew of a file whose rows landed: its size and modification time, the hash
    of its last ``TAIL_BYTES`` bytes, whether those end a line, the date its last line holds
    and the first date the hashed bytes hold whole (``date.min`` when they are the whole file;
    dates ``YYYY-MM-DD`` as written, None when a line does not start with one)."""

    size: int
    mtime_ns: int
    tail_hash: str | None = None
    ends_with_newline: bool = False
    last_date: date | None = None
    tail_first_date: date | None = None

    @property
    def stamp(self) -> FileStamp:
        return self.size, self.mtime_ns

    def to_json(self) -> dict:
        return {
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "tail_hash": self.tail_hash,
            "ends_with_newline": self.ends_with_newline,
            "last_date": self.last_date.isoformat() if self.last_date else None,
            "tail_first_date": (self.tail_first_date.isoformat() if self.tail_first_date else None),
        }

    @classmethod
    def from_json(cls, value: list | dict) -> FileRecord:
        if isinstance(value, list):  # a record of size and mtime only
            size, mtime_ns = value
            return cls(size, mtime_ns)
        last_date, tail_first_date = value.get("last_date"), value.get("tail_first_date")
        return cls(
            value["size"],
            value["mtime_ns"],
            value.get("tail_hash"),
            bool(value.get("ends_with_newline")),
            date.fromisoformat(last_date) if last_date else None,
            date.fromisoformat(tail_first_date) if tail_first_date else None,
        )


def _stamp(path: Path) -> FileStamp | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns


def tail_hash(path: Path, size: int) -> tuple[str, bytes]:
    """The hash of the file's last ``TAIL_BYTES`` bytes before ``size``, and those bytes."""
    with path.open("rb") as handle:
        handle.seek(max(0, size - TAIL_BYTES))
        tail = handle.read(min(size, TAIL_BYTES))
    return hashlib.blake2b(tail, digest_size=16).hexdigest(), tail


def _line_date(line: bytes) -> date | None:
    field_ = line.split(b",", 1)[0].strip()
    if len(field_) != 10:
        return None
    try:
        return date.fromisoformat(field_.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None


def file_record(path: Path, stamp: FileStamp) -> FileRecord:
    """The record of ``path`` as it is at ``stamp`` (its size and mtime, read before)."""
    size, mtime_ns = stamp
    digest, tail = tail_hash(path, size)
    last_line = tail.rstrip(b"\r\n").rsplit(b"\n", 1)[-1]
    if size <= TAIL_BYTES:
        first_date = date.min  # the hash covers every line
    else:  # the first line of the tail is cut: the next one is the first held whole
        whole_lines = tail.split(b"\n", 1)[1] if b"\n" in tail else b""
        first_date = _line_date(whole_lines) if whole_lines else None
    return FileRecord(
        size, mtime_ns, digest, tail.endswith(b"\n"), _line_date(last_line), first_date
    )


def read_landed_records(path: Path) -> dict[str, FileRecord]:
    """The records written by ``write_landed_records`` (empty when there are none)."""
    if not path.exists():
        return {}
    return {
        name: FileRecord.from_json(value) for name, value in json.loads(path.read_text()).items()
    }


def write_landed_records(path: Path, records: Mapping[str, FileRecord]) -> None:
    """Record the files whose rows are landed, replacing the previous record whole (a cache of
    what is known landed, not landing data: rewriting it loses nothing)."""
    write_text_replacing(
        path, json.dumps({name: records[name].to_json() for name in sorted(records)})
    )


@dataclass(frozen=True)
class GrownFile:
    """A file whose landed part is unchanged: only its bytes from ``start`` to ``end`` are new."""

    path: Path
    start: int
    end: int
    previous_last_date: date | None


def read_new_bytes(grown: GrownFile) -> bytes:
    with grown.path.open("rb") as handle:
        handle.seek(grown.start)
        return handle.read(grown.end - grown.start)


# A new line the fast path takes: a YYYY-MM-DD date and a plain decimal close, nothing else.
_NEW_LINE = re.compile(rb"(\d{4}-\d{2}-\d{2}),([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\r?")


def parse_new_lines(grown: GrownFile, new_bytes: bytes) -> list[tuple[date, float]] | None:
    """The rows of a grown file's new bytes, or None when anything in them is not the plain
    ``YYYY-MM-DD,<number>`` line of the file's shape, in date order after the previous last
    date: the per-file parser then reads the whole file, and either reads it or names the
    line. (A handful of lines a day: parsed here rather than by a DuckDB scan.)"""
    if not new_bytes.endswith(b"\n") or grown.previous_last_date is None:
        return None
    rows: list[tuple[date, float]] = []
    previous = grown.previous_last_date
    for line in new_bytes[:-1].split(b"\n"):
        match = _NEW_LINE.fullmatch(line)
        if match is None:
            return None
        try:
            day = date.fromisoformat(match.group(1).decode("ascii"))
        except ValueError:
            return None
        close = float(match.group(2))
        if day <= previous or not math.isfinite(close):
            return None
        rows.append((day, close))
        previous = day
    return rows


def _read_new_lines(plan: _ReadPlan) -> pd.DataFrame:
    """The new rows of every grown file, as a price frame (close is also adj_close, as the scan
    reads a Date,Close file). A grown file whose new lines are anything else is moved to the
    files parsed one by one, read whole."""
    tickers: list[str] = []
    dates: list[date] = []
    closes: list[float] = []
    for ticker, grown in sorted(plan.grown.items()):
        try:
            rows = parse_new_lines(grown, read_new_bytes(grown))
        except OSError:
            rows = None
        if rows is None:
            plan.one_by_one[ticker] = [plan.grown.pop(ticker).path]
            continue
        tickers += [ticker] * len(rows)
        dates += [day for day, _ in rows]
        closes += [close for _, close in rows]
    missing = pd.array([None] * len(tickers), dtype="Float64")
    return pd.DataFrame(
        {
            "ticker": pd.array(tickers, dtype="string"),
            "date": pd.to_datetime(pd.Series(dates, dtype="object")),
            "open": missing,
            "high": missing,
            "low": missing,
            "close": closes,
            "adj_close": closes,
            "volume": missing,
        }
    )


def has_minimal_header(path: Path) -> bool:
    """True when the file's first line is exactly ``Date,Close`` (any case, BOM and spaces
    ignored): the one shape the DuckDB scan reads."""
    with path.open("rb") as handle:
        first_line = handle.readline(64)
    text = first_line.decode("utf-8-sig", errors="replace").strip().lower().replace(" ", "")
    return text == MINIMAL_HEADER


# --------------------------------------------------------------------------------------------
# The source


@dataclass
class _ReadPlan:
    """How each requested ticker's files are read this run."""

    fetch: SourceFetch = field(default_factory=SourceFetch)
    minimal: dict[str, Path] = field(default_factory=dict)
    grown: dict[str, GrownFile] = field(default_factory=dict)
    one_by_one: dict[str, list[Path]] = field(default_factory=dict)
    unchanged: int = 0
    # ticker -> (path, record) of every file found, for the next run's landed records (a
    # renamed company may have a file under each of its symbols).
    records: dict[str, list[tuple[str, FileRecord]]] = field(default_factory=dict)


class CsvFolderSource:
    """A folder of CSV exports, one file per ticker (under its current or a former symbol).

    ``stamps_path`` records every file whose rows landed (``FileRecord``): for a ticker with
    landed rows (a window start), a file that still has them is not read again, and a grown
    one only from its previous end, unless ``reread_unchanged`` (a backfill).

    ``ticker_changes`` lets a renamed company's history come from files under its earlier
    symbols, landed under the current one.
    """

    label = CSV_SOURCE
    listing_is_what_it_holds = True

    def __init__(
        self,
        csv_dir: Path,
        *,
        ticker_changes: Sequence[TickerChange] = (),
        stamps_path: Path | None = None,
        reread_unchanged: bool = False,
    ) -> None:
        self.csv_dir = Path(csv_dir)
        self.current = current_symbols(ticker_changes)
        self.former = former_symbols(ticker_changes)
        self.stamps_path = stamps_path
        self.reread_unchanged = reread_unchanged
        self._plan = _ReadPlan()

    def list_tickers(self) -> list[str]:
        """Every ticker with a file (duplicated ones too: reading fails that ticker alone)."""
        return to_current(self._groups, self.current)

    @cached_property
    def _groups(self) -> dict[str, list[Path]]:
        """The folder's listing, once per run: the universe, the reading and the retraction
        of removed files see the same files."""
        return group_price_files(self.csv_dir)

    def fetch(
        self, connection: duckdb.DuckDBPyConnection, windows: Mapping[str, date | None]
    ) -> SourceFetch:
        """Files of unusual shapes, and the new lines of grown files, are read now into the
        fetched table; the minimal ones are streamed by the landing step
        (``SourceFetch.streamed``). A requested ticker without a file, with two files, or with
        a file that cannot be read is a failure; the other files are read regardless."""
        landed = {}
        if self.stamps_path is not None and not self.reread_unchanged:
            landed = read_landed_records(self.stamps_path)
        plan = self._plan = self._plan_reading(windows, landed)
        new_rows = _read_new_lines(plan)
        parse_failures = _parse_one_by_one(connection, plan.one_by_one, self.label)
        plan.fetch.failed.update(parse_failures)
        plan.fetch.unreadable.update(parse_failures)
        add_fetched_frame(connection, new_rows, self.label)
        if plan.minimal:
            scan = MinimalFilesScan(connection, plan.minimal, windows, self.label)
            plan.fetch.streamed = scan
            plan.fetch.streamed_keys_sql = scan.keys_sql()
        # A file read whole this run holds its ticker's whole window: what it no longer holds
        # there is retracted. Unreadable files are not (their rows are kept, the ticker fails),
        # nor grown files, read from their previous end only.
        plan.fetch.complete = (set(plan.minimal) | set(plan.one_by_one)) - set(parse_failures)
        return plan.fetch

    def after_landing(self, batch: LandedBatch, failed: Collection[str]) -> list[str]:
        """Record every file read without failing (or not read because unchanged): only now
        are their rows known landed. Failed files are left out, so they are read whole again
        next run."""
        plan = self._plan
        if self.stamps_path is not None:
            write_landed_records(
                self.stamps_path,
                {
                    path: record
                    for ticker, files in plan.records.items()
                    if ticker not in failed
                    for path, record in files
                },
            )
        scanned, grown, parsed, unchanged = self.read_counts(batch)
        return [
            f"CSV folder: {scanned} minimal Date,Close files read in one scan, {grown} grown "
            f"files read from their previous end, {parsed} files of other shapes (or with "
            f"problems) parsed one by one, {unchanged} unchanged since they landed (not read)."
        ]

    def read_counts(self, batch: LandedBatch) -> tuple[int, int, int, int]:
        """Files of the last fetch (landed as ``batch``) read whole in the one scan, read from
        their previous end, parsed one by one (other shapes, and scanned files whose rows were
        replaced), and left unread."""
        plan = self._plan
        replaced = len(batch.replaced_streams)
        return (
            len(plan.minimal) - replaced,
            len(plan.grown),
            len(plan.one_by_one) + replaced,
            plan.unchanged,
        )

    def _plan_reading(
        self, windows: Mapping[str, date | None], landed: Mapping[str, FileRecord]
    ) -> _ReadPlan:
        groups = self._groups
        plan = _ReadPlan()
        failed, unreadable = plan.fetch.failed, plan.fetch.unreadable
        for ticker in sorted(windows):
            symbols = [ticker, *self.former.get(ticker, ())]
            files = {symbol: groups[symbol] for symbol in symbols if symbol in groups}
            if not files:
                names = " or ".join(f"{symbol}.csv" for symbol in symbols)
                failed[ticker] = f"no file {names} in {self.csv_dir}"
                continue
            duplicated = [(symbol, paths) for symbol, paths in files.items() if len(paths) > 1]
            if duplicated:
                symbol, paths = duplicated[0]
                failed[ticker] = unreadable[ticker] = str(duplicate_file_error(symbol, paths))
                continue
            # Newest symbol first: the order in which files win a date they share.
            paths = [paths[0] for paths in files.values()]
            stamps = [_stamp(path) for path in paths]
            known = [landed.get(str(path)) for path in paths]
            changes = [
                _change(path, stamp, record, windows[ticker])
                for path, stamp, record in zip(paths, stamps, known, strict=True)
            ]
            plan.records[ticker] = [
                (str(path), new_record)
                for path, stamp, record, change in zip(paths, stamps, known, changes, strict=True)
                if stamp is not None
                and (new_record := _new_record(path, stamp, record, change)) is not None
            ]
            if all(change == "unchanged" for change in changes):
                plan.unchanged += 1
            elif changes == ["grown"] and _worth_scanning(paths[0], stamps[0]):
                record = known[0]
                plan.grown[ticker] = GrownFile(
                    paths[0], record.size, stamps[0][0], record.last_date
                )
            elif (
                len(paths) == 1
                and _worth_scanning(paths[0], stamps[0])
                and _line_endings_are_uniform(paths[0])
            ):
                plan.minimal[ticker] = paths[0]
            else:
                plan.one_by_one[ticker] = paths
        return plan


def _change(
    path: Path, stamp: FileStamp | None, record: FileRecord | None, window_start: date | None
) -> str:
    """How ``path`` (at ``stamp``) differs from its landed ``record`` for a fetch window from
    ``window_start`` (None: every date): ``unchanged``, ``grown`` (new bytes after its landed
    part) or ``whole`` (to be read whole).

    Only the window's rows are ever compared with what has landed, so a file whose hashed
    tail covers the window and still hashes the same holds the same window rows: unchanged
    when its size is the same, grown when it is larger."""
    if stamp is None or record is None or window_start is None:
        return "whole"
    if stamp == record.stamp:
        return "unchanged"
    size, _ = stamp
    if (
        record.tail_hash is None
        or record.tail_first_date is None
        or window_start < record.tail_first_date
        or size < record.size
    ):
        return "whole"
    try:
        digest, _ = tail_hash(path, record.size)
    except OSError:
        return "whole"
    if digest != record.tail_hash:
        return "whole"
    if size == record.size:
        return "unchanged"
    return "grown" if record.ends_with_newline else "whole"


def _new_record(
    path: Path, stamp: FileStamp, record: FileRecord | None, change: str
) -> FileRecord | None:
    """The file's record once this run's rows landed (None: it could not be read)."""
    if change == "unchanged" and record is not None:
        return replace(record, mtime_ns=stamp[1])
    try:
        return file_record(path, stamp)
    except OSError:
        return None


def _worth_scanning(path: Path, stamp: FileStamp | None) -> bool:
    """A minimal file with data rows (``stamp``: its size and mtime, None if unreadable)."""
    if stamp is None:
        return False  # the per-file parser reports it
    size, _ = stamp
    try:
        return size > _HEADER_ONLY_MAX_BYTES and has_minimal_header(path)
    except OSError:
        return False


def _line_endings_are_uniform(path: Path) -> bool:
    """True when every line of the file ends alike (all ``\n`` or all ``\r\n``). DuckDB's
    strict CSV reader fails the whole scan, not a row, on a file that mixes them (an export
    appended to on another system), and its lenient mode would also take rows with too many
    fields; such a file goes to the per-file parser."""
    try:
        content = path.read_bytes()
    except OSError:
        return False  # the per-file parser reports it
    carriage_returns = content.count(b"\r")
    return carriage_returns == 0 or carriage_returns == content.count(b"\r\n") == content.count(
        b"\n"
    )


class MinimalFilesScan:
    """The minimal files as one DuckDB ``read_csv`` streamed into the landing file
    (``landing.StreamedRows``): the landing step asks which tickers' written rows look wrong
    and has their files parsed one by one instead."""

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        files: Mapping[str, Path],
        windows: Mapping[str, date | None],
        price_source: str,
        *,
        tails: Mapping[str, tuple[Path, GrownFile]] | None = None,
    ) -> None:
        """``files``: the minimal files read whole, by ticker; ``tails``: the grown files, by
        ticker, as the file of their new bytes and where those came from."""
        tails = dict(tails or {})
        # What the scan reads, and the file the per-file parser reads when a ticker's rows
        # look wrong (for a grown file, the whole file).
        self.files = {**dict(files), **{ticker: path for ticker, (path, _) in tails.items()}}
        self.originals = {
            **dict(files),
            **{ticker: grown.path for ticker, (_, grown) in tails.items()},
        }
        self.price_source = price_source
        tickers = list(self.files)
        # file_index is the file's position in the read_csv list (DuckDB's file_index virtual
        # column): rows are matched to their ticker by it, never by the path string, which
        # would ride along every row (and grow with the folder's path) until the join.
        # A grown file's new bytes are read whatever the window (window_start NULL), and each
        # must be dated after the file's previous last date.
        files_table = pa.table(
            {
                "file_index": list(range(len(tickers))),
                "path": [str(self.files[ticker]) for ticker in tickers],
                "ticker": tickers,
                "window_start": [
                    None if ticker in tails else windows[ticker] for ticker in tickers
                ],
                "previous_last_date": [
                    tails[ticker][1].previous_last_date if ticker in tails else None
                    for ticker in tickers
                ],
                "is_new_bytes": [ticker in tails for ticker in tickers],
            },
            schema=pa.schema(
                [
                    ("file_index", pa.int64()),
                    ("path", pa.string()),
                    ("ticker", pa.string()),
                    ("window_start", pa.date32()),
                    ("previous_last_date", pa.date32()),
                    ("is_new_bytes", pa.bool_()),
                ]
            ),
        )
        create_temp_table(connection, "scan_files", files_table)

    def select_sql(self) -> str:
        # COPY takes no parameters, so the file list is a literal. Date is read as text: only
        # a YYYY-MM-DD date is taken here, anything else goes to the parser (which knows
        # yfinance's timestamp layouts and refuses ambiguous ones). Rows whose date does not
        # parse are kept whatever the window, so that vet() sees them. The list's order is
        # scan_files.file_index.
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
            from {self._read_files("DOUBLE", STORE_REJECTS)} as raw
            inner join scan_files on raw.file_index = scan_files.file_index
            where
                scan_files.window_start is null
                or length(raw.Date) <> 10
                or try_cast(raw.Date as date) is null
                or try_cast(raw.Date as date) >= scan_files.window_start
        """

    def _read_files(self, close_type: str, error_handling: str) -> str:
        """DuckDB's ``read_csv`` of the minimal files (Date as text, Close as ``close_type``),
        with ``error_handling`` for rows it cannot read; rows carry ``file_index``."""
        paths = sql_string_list(str(path) for path in self.files.values())
        return f"""read_csv(
                {paths},
                header = true,
                auto_detect = false,
                delim = ',',
                quote = '"',
                columns = {{'Date': 'VARCHAR', 'Close': '{close_type}'}},
                {error_handling}
            )"""

    def keys_sql(self) -> str:
        """SELECT of the (ticker, date) keys the files hold (every date that parses), for the
        retractions: a second, key-only scan, run only when a ticker has landed rows. Rows
        are matched to their ticker by file_index, like ``select_sql``."""
        return f"""
            select scan_files.ticker, try_cast(raw.Date as date) as date
            from {self._read_files("VARCHAR", "ignore_errors = true")} as raw
            inner join scan_files on raw.file_index = scan_files.file_index
        """

    def rejected_tickers(self, connection: duckdb.DuckDBPyConnection, summary: str) -> set[str]:
        """The tickers with anything odd among their written rows (a row without a usable date
        or close, a repeated date), a row the reader rejected, or new bytes of a grown file
        holding a date on or before its previous last date (or a previous last date unknown)."""
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
                {self._new_bytes_out_of_order_sql()}
                """
            ).fetchall()
        }
        return doubtful & set(self.files)

    def _new_bytes_out_of_order_sql(self) -> str:
        """UNION of the grown files whose new bytes hold a date on or before the previous last
        date (read again: the landing writes only new or revised rows, so a repeated date
        equal to its landed row would not show among the written ones)."""
        new_bytes = [
            self.files[ticker]
            for ticker in self.files
            if self.files[ticker] != self.originals[ticker]
        ]
        if not new_bytes:
            return ""
        return f"""
            union
            select scan_files.ticker
            from read_csv(
                {sql_string_list(str(path) for path in new_bytes)},
                header = true, auto_detect = false, delim = ',', quote = '"',
                columns = {{'Date': 'VARCHAR', 'Close': 'VARCHAR'}}, ignore_errors = true,
                filename = true
            ) as raw
            inner join scan_files on raw.filename = scan_files.path
            where scan_files.previous_last_date is null
                or try_cast(raw.Date as date) <= scan_files.previous_last_date
        """

    def add_replacements(
        self, connection: duckdb.DuckDBPyConnection, tickers: set[str]
    ) -> dict[str, str]:
        """The per-file parser, the authority on every problem, reads the rejected files: it
        either reads a file (a timestamp layout it knows) or names the file and line."""
        return _parse_one_by_one(
            connection, {ticker: [self.originals[ticker]] for ticker in tickers}, self.price_source
        )


def _parse_one_by_one(
    connection: duckdb.DuckDBPyConnection,
    files: Mapping[str, Sequence[Path]],
    price_source: str,
) -> dict[str, str]:
    """The per-file parser for the files the scan does not take, appended in batches; returns
    ``{ticker: error}`` of the files that cannot be read. ``files`` holds each ticker's files,
    newest symbol first."""
    failed: dict[str, str] = {}
    batch: list[pd.DataFrame] = []
    for ticker, paths in sorted(files.items()):
        try:
            batch.append(read_under_current_symbol(paths, ticker))
        except (PriceFileError, OSError) as exc:
            failed[ticker] = str(exc)
        if len(batch) >= _FALLBACK_BATCH_FILES:
            add_fetched_frame(connection, pd.concat(batch, ignore_index=True), price_source)
            batch = []
    if batch:
        add_fetched_frame(connection, pd.concat(batch, ignore_index=True), price_source)
    return failed


def read_under_current_symbol(paths: Sequence[Path], ticker: str) -> pd.DataFrame:
    """A company's files (newest symbol first) as one history under ``ticker``: on a date
    several files hold, the first file's row wins. Each file is parsed as its own symbol, so
    a yf.download ``Ticker`` row naming the old symbol is still checked against its file name.
    """
    frames = [read_price_csv(path).assign(ticker=ticker) for path in paths]
    for frame in frames:
        frame["ticker"] = frame["ticker"].astype("string")
    if len(frames) == 1:
        return frames[0]
    merged = pd.concat(frames, ignore_index=True).drop_duplicates(subset="date", keep="first")
    return merged.sort_values("date", kind="stable").reset_index(drop=True)
