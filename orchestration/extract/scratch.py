"""The scratch DuckDB database of one run's extraction: every source fills it, landing reads it.

A run's rows live here from fetch to landing file: sources that return frames (demo, Yahoo, CSV
files of unusual shapes) append them to the fetched table, cut to each ticker's fetch window;
a CSV folder's minimal files are streamed from ``read_csv`` straight into the landing file
instead (``landing.StreamedRows``). No full-history pandas frame is ever built.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from orchestration import settings
from orchestration.extract.schema import PRICE_COLUMNS

FETCHED_TABLE = "fetched_prices"
WINDOW_TABLE = "fetch_windows"
_FETCHED_COLUMNS_SQL = f"""
    create or replace temp table {FETCHED_TABLE} (
        ticker varchar, date date, open double, high double, low double, close double,
        adj_close double, volume double, price_source varchar
    )
"""


@contextmanager
def scratch_database(scratch_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A throw-away DuckDB database file for one run's landing work, deleted afterwards, with
    an empty fetched table.

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
