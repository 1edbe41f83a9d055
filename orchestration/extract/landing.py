"""The immutable landing zone for prices: append-only Parquet files under ``landing/prices/``.

Rules that keep landing trustworthy:
- A landing file is written once and never rewritten. It is written under a hidden temporary
  name and hard-linked to its final name, which fails rather than overwrite an existing file;
  a run killed mid-write leaves only a ``.tmp`` file, which readers never match.
- Every row carries its provenance: price_source, run_id, fetched_at.
- The current price of a ticker and date is its latest fetch (``latest_landed_prices``).
- A run lands only rows that are new or revised against what is already landed, so a rerun with
  no new data lands nothing.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

import duckdb
import pandas as pd
import pyarrow as pa

from orchestration import settings
from orchestration.atomic import fsync_directory, fsync_file
from orchestration.atomic import temporary_path as temporary_file
from orchestration.extract.demo_source import DEMO_SOURCE
from orchestration.extract.schema import PRICE_COLUMNS, VALUE_COLUMNS

_SAFE_NAME_PART = re.compile(r"[^A-Za-z0-9_.-]+")


def landing_file_name(fetched_at: datetime, price_source: str, run_id: str) -> str:
    """``<fetched_at UTC>__<source>__<run id>.parquet``: sorts by fetch time, names its origin."""
    stamp = fetched_at.strftime("%Y%m%dT%H%M%S%fZ")
    parts = (stamp, _SAFE_NAME_PART.sub("_", price_source), _SAFE_NAME_PART.sub("_", run_id))
    return "__".join(parts) + ".parquet"


def landed_files(landing_dir: Path) -> list[Path]:
    """Complete landing files, oldest first. Temporary files of unfinished writes are ignored."""
    if not landing_dir.is_dir():
        return []
    return sorted(path for path in landing_dir.glob("*.parquet") if not path.name.startswith("."))


def remove_stale_temporary_files(landing_dir: Path) -> list[Path]:
    """Delete ``.tmp`` leftovers of killed runs (never complete files); returns what it removed."""
    if not landing_dir.is_dir():
        return []
    leftovers = sorted(landing_dir.glob(".*.tmp"))
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def read_watermarks(landing_dir: Path, *, demo: bool) -> dict[str, date]:
    """Latest landed date per ticker, among demo rows or among real rows.

    Demo and real prices keep separate watermarks, so switching from the demo source to real
    data fetches a ticker's whole real history instead of only the days after the demo's last.
    """
    files = landed_files(landing_dir)
    if not files:
        return {}
    comparison = "=" if demo else "<>"
    query = f"""
        select ticker, max(date) as watermark
        from read_parquet($files)
        where price_source {comparison} '{DEMO_SOURCE}'
        group by ticker
    """
    with duckdb.connect() as connection:
        rows = connection.execute(query, {"files": [str(path) for path in files]}).fetchall()
    return dict(rows)


def latest_landed_sql(window_table: str) -> str:
    """SQL of the current landed version (latest fetch) of each ticker and date inside the
    fetch windows of ``window_table`` (ticker, window_start; a NULL start means all dates).

    The window is applied before the latest-fetch ranking: it filters on the partition keys
    (ticker, date), so the ranking is the same and covers only the rows a run compares.
    """
    columns = ", ".join(f"landed.{column}" for column in [*PRICE_COLUMNS, "price_source"])
    # fetched_at, then file name, orders fetches; the file name breaks ties of equal stamps.
    return f"""
        select {columns}
        from read_parquet($files, filename = true) as landed
        inner join {window_table} as windows on landed.ticker = windows.ticker
        where windows.window_start is null or landed.date >= windows.window_start
        qualify row_number() over (
            partition by landed.ticker, landed.date
            order by landed.fetched_at desc, landed.filename desc
        ) = 1
    """


def read_latest_landed(landing_dir: Path, tickers: Iterable[str], since: date) -> pd.DataFrame:
    """The current landed version (latest fetch) of each ticker and date on or after ``since``."""
    files = landed_files(landing_dir)
    wanted = sorted(set(tickers))
    columns = [*PRICE_COLUMNS, "price_source"]
    if not files or not wanted:
        return pd.DataFrame({column: [] for column in columns})
    with duckdb.connect() as connection:
        windows = pa.table({"ticker": wanted, "window_start": [since] * len(wanted)})
        connection.register("read_windows", windows)
        sql = latest_landed_sql("read_windows") + " order by ticker, date"
        landed = connection.execute(sql, {"files": [str(path) for path in files]}).df()
    landed["date"] = pd.to_datetime(landed["date"]).astype("datetime64[ns]")
    return landed


# --------------------------------------------------------------------------------------------
# Landing a run's fetched rows, set-based in DuckDB
#
# A run's rows live in a scratch DuckDB database: sources that return frames (demo, Yahoo, CSV
# files of other shapes) go into its fetched table; a CSV folder's minimal files are streamed
# from read_csv straight into the landing file (StreamedRows). The comparison with what has
# landed and the write are one SQL statement. No full-history pandas frame is ever built.

FETCHED_TABLE = "fetched_prices"
WINDOW_TABLE = "fetch_windows"
_FETCHED_COLUMNS_SQL = f"""
    create or replace temp table {FETCHED_TABLE} (
        ticker varchar, date date, open double, high double, low double, close double,
        adj_close double, volume double, price_source varchar
    )
"""


@dataclass
class LandedBatch:
    """What one landing write did: the file (None when nothing was new) and per-ticker counts."""

    path: Path | None = None
    rows_by_ticker: dict[str, int] = field(default_factory=dict)
    first_date: date | None = None
    last_date: date | None = None
    preview: pd.DataFrame | None = None

    @property
    def rows(self) -> int:
        return sum(self.rows_by_ticker.values())


@contextmanager
def scratch_database(scratch_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A throw-away DuckDB database file for one run's landing work, deleted afterwards.

    On disk rather than in memory so big batches are compressed and spill instead of growing
    the process; ``HASHPIVOT_DUCKDB_MEMORY_LIMIT`` caps DuckDB's own memory.
    """
    scratch_dir.mkdir(parents=True, exist_ok=True)
    path = scratch_dir / f"landing-{os.getpid()}-{uuid.uuid4().hex}.duckdb"
    connection = duckdb.connect(str(path), config=settings.duckdb_config(scratch_dir / "spill"))
    try:
        connection.execute(_FETCHED_COLUMNS_SQL)
        yield connection
    finally:
        connection.close()
        for leftover in (path, path.with_name(path.name + ".wal")):
            leftover.unlink(missing_ok=True)


def register_windows(
    connection: duckdb.DuckDBPyConnection, windows: Mapping[str, date | None]
) -> None:
    """The run's fetch window per ticker as a table (a NULL start: every date)."""
    table = pa.table(
        {"ticker": list(windows), "window_start": list(windows.values())},
        schema=pa.schema([("ticker", pa.string()), ("window_start", pa.date32())]),
    )
    create_temp_table(connection, WINDOW_TABLE, table)


def add_fetched_frame(
    connection: duckdb.DuckDBPyConnection, prices: pd.DataFrame, price_source: str
) -> None:
    """Append a source's frame (standard columns) to the fetched table, cut to each ticker's
    window (sources may return more than asked) and labelled with its source."""
    if prices.empty:
        return
    frame = prices[PRICE_COLUMNS]
    connection.register("fetched_frame", frame)
    try:
        connection.execute(
            f"""
            insert into {FETCHED_TABLE}
            select
                frame.ticker, cast(frame.date as date), frame.open, frame.high, frame.low,
                frame.close, frame.adj_close, frame.volume, $price_source
            from fetched_frame as frame
            inner join {WINDOW_TABLE} as windows on frame.ticker = windows.ticker
            where windows.window_start is null or cast(frame.date as date) >= windows.window_start
            """,
            {"price_source": price_source},
        )
    finally:
        connection.unregister("fetched_frame")


def count_fetched(connection: duckdb.DuckDBPyConnection) -> int:
    return connection.execute(f"select count(*) from {FETCHED_TABLE}").fetchall()[0][0]


class StreamedRows(Protocol):
    """Rows a source streams into the landing file instead of loading into the fetched table
    (the CSV folder scan), with its own check of what was written."""

    def select_sql(self) -> str:
        """SELECT of the rows (ticker, date, open, high, low, close, adj_close, volume,
        price_source), already cut to the fetch windows; no parameters (COPY takes none)."""
        ...

    def vet(self, connection: duckdb.DuckDBPyConnection, summary: str) -> set[str]:
        """Tickers whose streamed rows must not land, judged from ``summary`` (the written rows
        per ticker: rows, dates, unusable_rows, first_date, last_date); their replacement rows,
        if any, are added to the fetched table."""
        ...


def land_new_or_revised(
    connection: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    *,
    price_source: str,
    run_id: str,
    fetched_at: datetime,
    streamed: StreamedRows | None = None,
) -> LandedBatch:
    """Land the fetched rows that are new, or whose values or source differ from their current
    landed version, as one new immutable file sorted by ticker and date.

    The fetched rows are the fetched table plus, when given, ``streamed`` rows, which go from
    their source to the landing file in one pass. NULL equals NULL here (``is distinct from``):
    a missing volume fetched twice is not a revision. Returns an empty batch, and writes
    nothing, when every row is already landed.
    """
    files = landed_files(landing_dir)
    if files:
        connection.execute(
            f"create or replace temp table landed_window as {latest_landed_sql(WINDOW_TABLE)}",
            {"files": [str(path) for path in files]},
        )
    fetched = f"select * from {FETCHED_TABLE}"
    if streamed is not None:
        fetched += f" union all ({streamed.select_sql()})"
    select = _new_or_revised_sql(fetched, run_id, fetched_at, compare=bool(files))

    def vet_streamed_rows(written: str, summary: str) -> str | None:
        """A replacement SELECT when the streamed rows of some tickers must not land."""
        if streamed is None:
            return None
        rejected = sorted(streamed.vet(connection, summary))
        if not rejected:
            return None
        tickers = sql_string_list(rejected)
        replacements = f"select * from {FETCHED_TABLE} where list_contains({tickers}, ticker)"
        return f"""
            select * from {written} where not list_contains({tickers}, ticker)
            union all ({_new_or_revised_sql(replacements, run_id, fetched_at, bool(files))})
            order by ticker, date
        """

    return _write_once(
        connection, select, landing_dir, price_source, run_id, fetched_at, vet_streamed_rows
    )


def _new_or_revised_sql(fetched: str, run_id: str, fetched_at: datetime, compare: bool) -> str:
    """SELECT of the rows of ``fetched`` to land, with provenance, sorted by ticker and date;
    with ``compare``, only those new or different against ``landed_window``."""
    changed = " or ".join(
        f"fetched.{column} is distinct from landed.{column}"
        for column in [*VALUE_COLUMNS, "price_source"]
    )
    comparison = f"""
        left join landed_window as landed
            on fetched.ticker = landed.ticker and fetched.date = landed.date
        where landed.ticker is null or {changed}
    """
    return f"""
        select
            fetched.ticker, fetched.date, fetched.open, fetched.high, fetched.low,
            fetched.close, fetched.adj_close, fetched.volume, fetched.price_source,
            {sql_string(run_id)} as run_id,
            cast({sql_string(_utc_iso(fetched_at))} as timestamptz) as fetched_at
        from ({fetched}) as fetched
        {comparison if compare else ""}
        order by fetched.ticker, fetched.date
    """


def write_landing_file(
    prices: pd.DataFrame, landing_dir: Path, *, price_source: str, run_id: str, fetched_at: datetime
) -> Path:
    """Write ``prices`` (standard columns) as one new immutable landing file, whole, and return
    its path. ``prices`` may carry its own ``price_source`` column; otherwise every row gets
    ``price_source``. (Runs land through ``land_new_or_revised``; this writes a given frame.)
    """
    frame = prices.copy()
    if "price_source" not in frame.columns:
        frame["price_source"] = price_source
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    with duckdb.connect() as connection:
        connection.register("given", frame[[*PRICE_COLUMNS, "price_source"]])
        select = f"""
            select
                cast(ticker as varchar) as ticker, cast(date as date) as date,
                {", ".join(f"cast({c} as double) as {c}" for c in VALUE_COLUMNS)},
                cast(price_source as varchar) as price_source,
                {sql_string(run_id)} as run_id,
                cast({sql_string(_utc_iso(fetched_at))} as timestamptz) as fetched_at
            from given
        """
        batch = _write_once(connection, select, landing_dir, price_source, run_id, fetched_at)
    if batch.path is None:
        raise ValueError("write_landing_file was given no rows; a landing file is never empty")
    return batch.path


def _write_once(
    connection: duckdb.DuckDBPyConnection,
    select: str,
    landing_dir: Path,
    price_source: str,
    run_id: str,
    fetched_at: datetime,
    vet: Callable[[str, str], str | None] | None = None,
) -> LandedBatch:
    """COPY ``select`` to a temporary file, then link it to its final name (never replacing).

    ``vet`` looks at what was written (a SQL relation, and its per-ticker summary) and may
    return a replacement SELECT, which is written instead: checks that need the written rows
    never cost a second pass over the source.
    """
    landing_dir.mkdir(parents=True, exist_ok=True)
    final_path = landing_dir / landing_file_name(fetched_at, price_source, run_id)
    if final_path.exists():
        raise FileExistsError(f"landing file {final_path} exists already; landing is append-only")
    temporary_path = temporary_file(final_path)
    first_draft = temporary_file(final_path, ".draft")
    try:
        connection.execute("set timezone = 'UTC'")
        _copy(connection, select, first_draft if vet else temporary_path)
        if vet:
            draft = f"read_parquet({sql_string(str(first_draft))})"
            replacement = vet(draft, _summarize(connection, first_draft))
            if replacement is None:
                first_draft.rename(temporary_path)
            else:
                _copy(connection, replacement, temporary_path)
                _summarize(connection, temporary_path)
        else:
            _summarize(connection, temporary_path)
        batch = _describe_batch(connection, temporary_path)
        if not batch.rows:
            return LandedBatch()
        fsync_file(temporary_path)
        # link() never replaces an existing file, unlike rename(): a landed file stays immutable.
        os.link(temporary_path, final_path)
        fsync_directory(landing_dir)
    finally:
        temporary_path.unlink(missing_ok=True)
        first_draft.unlink(missing_ok=True)
    batch.path = final_path
    return batch


def _copy(connection: duckdb.DuckDBPyConnection, select: str, path: Path) -> None:
    connection.execute(
        f"copy ({select}) to {sql_string(str(path))} (format parquet, compression zstd)"
    )


def _summarize(connection: duckdb.DuckDBPyConnection, path: Path) -> str:
    """One pass over a written file: per ticker its rows, distinct dates, rows without a usable
    date or close, and date range, as the temp table ``written_by_ticker`` (returned)."""
    connection.execute(
        f"""
        create or replace temp table written_by_ticker as
        select
            ticker,
            count(*) as rows,
            count(distinct date) as dates,
            count(*) filter (
                where date is null or close is null or not isfinite(close)
            ) as unusable_rows,
            min(date) as first_date,
            max(date) as last_date
        from read_parquet({sql_string(str(path))})
        group by ticker
        """
    )
    return "written_by_ticker"


def _describe_batch(connection: duckdb.DuckDBPyConnection, path: Path) -> LandedBatch:
    counts = connection.execute(
        "select ticker, rows, first_date, last_date from written_by_ticker order by ticker"
    ).fetchall()
    if not counts:
        return LandedBatch()
    total = sum(count for _, count, _, _ in counts)
    preview = connection.execute(
        f"select {', '.join(PRICE_COLUMNS)} from read_parquet({sql_string(str(path))}) "
        f"offset {max(total - settings.PREVIEW_ROWS, 0)}"
    ).df()
    return LandedBatch(
        rows_by_ticker={ticker: int(count) for ticker, count, _, _ in counts},
        first_date=min(first for _, _, first, _ in counts),
        last_date=max(last for _, _, _, last in counts),
        preview=preview,
    )


def sql_string(text: str) -> str:
    """A SQL string literal (COPY takes no parameters); quotes are doubled."""
    return "'" + text.replace("'", "''") + "'"


def sql_string_list(texts: Iterable[str]) -> str:
    """A SQL list literal of strings, e.g. ['a', 'b']."""
    return "[" + ", ".join(sql_string(text) for text in texts) + "]"


def create_temp_table(connection: duckdb.DuckDBPyConnection, name: str, rows: pa.Table) -> None:
    """Copy an Arrow table into a temp table of ``connection`` (replacing one of that name)."""
    view = f"{name}_arrow"
    connection.register(view, rows)
    try:
        connection.execute(f"create or replace temp table {name} as select * from {view}")
    finally:
        connection.unregister(view)


def _utc_iso(moment: datetime) -> str:
    return pd.Timestamp(moment).tz_convert("UTC").isoformat()
