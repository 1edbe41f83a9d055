"""What has landed: the immutable price files under ``landing/prices/`` and how to read them.

A landing file is named ``<fetched_at UTC>__<source>__<run id>.parquet`` (sorting by fetch
time) and never rewritten; the current price of a ticker and date is its latest fetch among the
rows no later retraction of their source withdrew (``retractions.py``). The write itself is
``landing.land_new_or_revised``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from orchestration.extract.schema import DEMO_SOURCE, PRICE_COLUMNS

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


def source_of(landing_file: Path) -> str:
    """The source a landing file's name gives (``<fetched_at>__<source>__<run id>.parquet``)."""
    return landing_file.name.split("__")[1]


def landed_sources(landing_dir: Path) -> set[str]:
    """The sources whose prices have landed."""
    return {source_of(path) for path in landed_files(landing_dir)}


def remove_stale_temporary_files(landing_dir: Path) -> list[Path]:
    """Delete ``.tmp`` leftovers of killed runs (never complete files); returns what it removed."""
    if not landing_dir.is_dir():
        return []
    leftovers = sorted(landing_dir.glob(".*.tmp"))
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def set_aside_unreadable_files(landing_dir: Path, damaged_dir: Path) -> list[Path]:
    """Move landing files whose Parquet footer cannot be read (truncated, overwritten) to
    ``damaged_dir``, never deleting them; returns where they went. Every reader of the landing
    zone (watermarks, the audit, dbt) would otherwise fail on them on every run, and with them
    gone the watermarks fall back, so their rows are fetched again."""
    moved = []
    for path in landed_files(landing_dir):
        try:
            pq.read_metadata(path)
        except (OSError, ValueError):
            damaged_dir.mkdir(parents=True, exist_ok=True)
            target = damaged_dir / path.name
            if target.exists():
                target = damaged_dir / f"{path.stem}.{os.getpid()}{path.suffix}"
            os.replace(path, target)
            moved.append(target)
    return moved


def read_watermarks(
    landing_dir: Path, *, demo: bool, retractions: Sequence[Path] = ()
) -> dict[str, date]:
    """Latest current date per ticker, among demo rows or among real rows: a row a later
    retraction of its source withdrew (``retractions``, files) does not count.

    Demo and real prices keep separate watermarks, so switching from the demo source to real
    data fetches a ticker's whole real history instead of only the days after the demo's last.
    """
    from orchestration.extract.retractions import not_retracted_sql

    files = landed_files(landing_dir)
    if not files:
        return {}
    comparison = "=" if demo else "<>"
    query = f"""
        select ticker, max(date) as watermark
        from read_parquet($files) as landed
        where price_source {comparison} $demo_source
            and {not_retracted_sql("landed", retractions)}
        group by ticker
    """
    with duckdb.connect() as connection:
        parameters = {"files": [str(path) for path in files], "demo_source": DEMO_SOURCE}
        rows = connection.execute(query, parameters).fetchall()
    return dict(rows)


def latest_landed_sql(window_table: str, retractions: Sequence[Path] = ()) -> str:
    """SQL of the current landed version of each ticker and date inside the fetch windows of
    ``window_table`` (ticker, window_start; a NULL start means all dates): the latest fetch
    among the rows no later retraction of their source withdrew (``retractions``, files).
    Takes the landing files as the parameter ``$files``.

    The window is applied before the latest-fetch ranking: it filters on the partition keys
    (ticker, date), so the ranking is the same and covers only the rows a run compares.
    """
    from orchestration.extract.retractions import not_retracted_sql

    columns = ", ".join(f"landed.{column}" for column in [*PRICE_COLUMNS, "price_source"])
    in_window = "windows.window_start is null or landed.date >= windows.window_start"
    current = f"and {not_retracted_sql('landed', retractions)}" if retractions else ""
    # fetched_at, then the file orders fetches; the file breaks ties of equal stamps. $files is
    # sorted by name (landed_files), so DuckDB's file_index (the position in that list) orders
    # as the name does, without a path string on every row.
    return f"""
        select {columns}
        from read_parquet($files) as landed
        inner join {window_table} as windows on landed.ticker = windows.ticker
        where ({in_window}) {current}
        qualify row_number() over (
            partition by landed.ticker, landed.date
            order by landed.fetched_at desc, landed.file_index desc
        ) = 1
    """
