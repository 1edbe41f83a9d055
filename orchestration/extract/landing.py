"""Landing a run's fetched rows: the new and revised ones, as one new immutable file.

Rules that keep landing trustworthy:
- A landing file is written once and never rewritten. It is written under a hidden temporary
  name and hard-linked to its final name, which fails rather than overwrite an existing file;
  a run killed mid-write leaves only a ``.tmp`` file, which readers never match.
- Every row carries its provenance: price_source, run_id, fetched_at.
- A run lands only rows that are new or revised against what is already landed, so a rerun with
  no new data lands nothing.

Landing is the step after a source: it reads the scratch database the source filled
(``scratch.FETCHED_TABLE`` plus any ``StreamedRows``), and the comparison with what has landed
and the write are one SQL statement.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

import duckdb
import pandas as pd

from orchestration import settings
from orchestration.atomic import fsync_directory, fsync_file
from orchestration.atomic import temporary_path as temporary_file
from orchestration.extract.landed import landed_files, landing_file_name, latest_landed_sql
from orchestration.extract.schema import PRICE_COLUMNS, VALUE_COLUMNS
from orchestration.extract.scratch import (
    FETCHED_TABLE,
    WINDOW_TABLE,
    sql_string,
    sql_string_list,
)


class StreamedRows(Protocol):
    """Rows a source streams into the landing file instead of loading them into the fetched
    table (the CSV folder's minimal files), with its own check of what was written."""

    def select_sql(self) -> str:
        """SELECT of the rows (ticker, date, open, high, low, close, adj_close, volume,
        price_source), already cut to the fetch windows; no parameters (COPY takes none)."""
        ...

    def rejected_tickers(self, connection: duckdb.DuckDBPyConnection, summary: str) -> set[str]:
        """Tickers whose streamed rows must not land, judged from ``summary`` (a table of the
        written rows per ticker: rows, dates, unusable_rows, first_date, last_date)."""
        ...

    def add_replacements(
        self, connection: duckdb.DuckDBPyConnection, tickers: set[str]
    ) -> Mapping[str, str]:
        """Add the rejected tickers' rows, read another way, to the fetched table; returns
        ``{ticker: reason}`` for those that cannot be read at all."""
        ...


@dataclass
class LandedBatch:
    """What one landing write did: the file (None when nothing was new) and per-ticker counts."""

    path: Path | None = None
    rows_by_ticker: dict[str, int] = field(default_factory=dict)
    first_date: date | None = None
    last_date: date | None = None
    preview: pd.DataFrame | None = None
    # Streamed tickers whose rows were replaced, and those of them that could not be read.
    replaced_streams: frozenset[str] = frozenset()
    unreadable: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.rows_by_ticker.values())


def land_new_or_revised(
    connection: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    *,
    price_source: str,
    run_id: str,
    fetched_at: datetime,
    streamed: StreamedRows | None = None,
    retractions: Sequence[Path] = (),
) -> LandedBatch:
    """Land the fetched rows that are new, or whose values or source differ from their current
    landed version, as one new immutable file sorted by ticker and date.

    The fetched rows are the fetched table plus, when given, ``streamed`` rows, which go from
    their source to the landing file in one pass: they are written to a draft, and when the
    source rejects some tickers' written rows, the file is written again from the draft minus
    those tickers plus their replacements. NULL equals NULL here (``is distinct from``): a
    missing volume fetched twice is not a revision; a key whose latest event is one of the
    ``retractions`` is not landed, so fetching it again lands it. Returns an empty batch, and
    writes nothing, when every row is already landed.
    """
    files = landed_files(landing_dir)
    compare = bool(files)
    if compare:
        connection.execute(
            f"create or replace temp table landed_window as {latest_landed_sql(WINDOW_TABLE, retractions)}",
            {"files": [str(path) for path in files]},
        )
    fetched = f"select * from {FETCHED_TABLE}"
    if streamed is not None:
        fetched += f" union all ({streamed.select_sql()})"
    final_path = landing_dir / landing_file_name(fetched_at, price_source, run_id)
    if final_path.exists():
        raise FileExistsError(f"landing file {final_path} exists already; landing is append-only")
    landing_dir.mkdir(parents=True, exist_ok=True)
    temporary_path = temporary_file(final_path)
    draft_path = temporary_file(final_path, ".draft")
    replaced: set[str] = set()
    unreadable: Mapping[str, str] = {}
    try:
        connection.execute("set timezone = 'UTC'")
        select = _new_or_revised_sql(fetched, run_id, fetched_at, compare)
        if streamed is None:
            _copy(connection, select, temporary_path)
            _summarize(connection, temporary_path)
        else:
            _copy(connection, select, draft_path)
            replaced = streamed.rejected_tickers(connection, _summarize(connection, draft_path))
            if replaced:
                unreadable = streamed.add_replacements(connection, replaced)
                tickers = sql_string_list(sorted(replaced))
                replacements = (
                    f"select * from {FETCHED_TABLE} where list_contains({tickers}, ticker)"
                )
                # One pipeline into the sort, as in _new_or_revised_sql.
                kept = f"""
                    with kept as materialized (
                        select * from read_parquet({sql_string(str(draft_path))})
                        where not list_contains({tickers}, ticker)
                        union all ({_new_or_revised_sql(replacements, run_id, fetched_at, compare)})
                    )
                    select * from kept order by ticker, date
                """
                _copy(connection, kept, temporary_path)
                _summarize(connection, temporary_path)
            else:
                draft_path.rename(temporary_path)
        batch = _describe_batch(connection, temporary_path)
        batch.replaced_streams = frozenset(replaced)
        batch.unreadable = dict(unreadable)
        if batch.rows:
            fsync_file(temporary_path)
            # link() never replaces an existing file, unlike rename(): a landed file stays
            # immutable.
            os.link(temporary_path, final_path)
            fsync_directory(landing_dir)
            batch.path = final_path
    finally:
        temporary_path.unlink(missing_ok=True)
        draft_path.unlink(missing_ok=True)
    return batch


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
    # ``fetched`` is often a UNION ALL (the parsed rows, then the streamed scan). DuckDB's sort
    # fed by several pipelines can decide from the first one that it will fit in memory: with a
    # few thousand parsed rows first and 34 M scanned rows after, it ran out of memory instead
    # of spilling (tests/extract/test_landing_memory.py). Materialized, the rows reach the sort
    # as one pipeline, which spills like a plain sorted COPY.
    return f"""
        with fetched as materialized ({fetched})
        select
            fetched.ticker, fetched.date, fetched.open, fetched.high, fetched.low,
            fetched.close, fetched.adj_close, fetched.volume, fetched.price_source,
            {sql_string(run_id)} as run_id,
            cast({sql_string(_utc_iso(fetched_at))} as timestamptz) as fetched_at
        from fetched
        {comparison if compare else ""}
        order by fetched.ticker, fetched.date
    """


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


def _utc_iso(moment: datetime) -> str:
    return pd.Timestamp(moment).tz_convert("UTC").isoformat()
