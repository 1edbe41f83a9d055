"""Retractions: landed rows that their source no longer holds, recorded, never deleted.

Landing files are immutable, so a row removed from its source (a bad line deleted from a CSV
file, a non-curated file removed from the folder with ``--universe all``) cannot be taken out
of them. Instead the run that notices writes a retraction file under ``landing/retractions/``:
one row per (ticker, date) with the source, the reason, the run id and the fetch time, written
like a landing file (temporary name, then link; never rewritten). The landing files keep their
schema: readers that do not know retractions see exactly what they saw before.

Every reader of what currently counts honours them the same way: per (ticker, date) the latest
event wins, a landed row or a retraction, and a retraction means no row
(``landed.latest_landed_sql``, ``landed.read_watermarks``, the audit's pending batch, dbt's
``int_prices__audited``). A later fetch of the same key lands again and counts again.

What is retracted (``land_retractions``):
- keys inside a ticker's fetch window that the source read whole (``SourceFetch.complete``:
  the CSV folder's files read this run) and that are landed, currently, by that source, but
  absent from what the source holds now; rows before the window are never compared (a file
  cut short by accident does not erase a history);
- with ``--universe all`` and a source that lists its tickers, every current key of a ticker
  that source landed and no longer lists (a removed file), unless the ticker is curated (it
  stays a failed ticker and its rows are kept).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.atomic import write_once
from orchestration.extract.scratch import create_temp_table, sql_string, sql_string_list

RETRACTION_SCHEMA = pa.schema(
    [
        ("ticker", pa.string()),
        ("date", pa.date32()),
        ("price_source", pa.string()),
        ("reason", pa.string()),
        ("run_id", pa.string()),
        ("fetched_at", pa.timestamp("us", tz="UTC")),
    ]
)
# A zero-row file: dbt reads the folder with read_parquet, which fails on a glob matching none.
SCHEMA_FILE_NAME = "_schema.parquet"
REMOVED_FROM_WINDOW = "no longer in the source"
SOURCE_GONE = "the source no longer has the ticker"
_SCOPE_TABLE = "retraction_scope"


@dataclass
class Retractions:
    """What one run retracted."""

    path: Path | None = None
    rows_by_ticker: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.rows_by_ticker.values())


def ensure_retractions(retractions_dir: Path) -> None:
    """Create the folder with its zero-row schema file (once)."""
    schema_file = retractions_dir / SCHEMA_FILE_NAME
    if not schema_file.exists():
        with contextlib.suppress(FileExistsError), write_once(schema_file) as temporary:
            pq.write_table(RETRACTION_SCHEMA.empty_table(), temporary)


def retraction_files(retractions_dir: Path) -> list[Path]:
    """Complete retraction files, oldest first (no schema file, no temporary files)."""
    if not retractions_dir.is_dir():
        return []
    return sorted(
        path for path in retractions_dir.glob("*.parquet") if not path.name.startswith((".", "_"))
    )


def retracted_keys_sql(files: Sequence[Path]) -> str:
    """SELECT of ticker, date, fetched_at of every retraction in ``files`` (none if empty)."""
    if not files:
        return (
            "select cast(null as varchar) as ticker, cast(null as date) as date, "
            "cast(null as timestamptz) as fetched_at where false"
        )
    return (
        "select ticker, date, fetched_at "
        f"from read_parquet({sql_string_list(str(path) for path in files)})"
    )


def land_retractions(
    connection: duckdb.DuckDBPyConnection,
    *,
    landing_files: Sequence[Path],
    retractions_dir: Path,
    complete: Mapping[str, date | None],
    present_sql: str,
    removed_tickers: Collection[str],
    price_source: str,
    run_id: str,
    fetched_at: datetime,
) -> Retractions:
    """Write the run's retractions (see the module) as one new file; none when nothing is.

    ``complete``: tickers whose window (start, None for all dates) the source read whole;
    ``present_sql``: SELECT of the (ticker, date) keys the source holds now (any window);
    ``removed_tickers``: tickers whose every current key of ``price_source`` is retracted.
    ``landing_files`` are the landing files before this run's (its own rows are all present).
    """
    from orchestration.extract.landed import landing_file_name, latest_landed_sql

    scope = {ticker: start for ticker, start in complete.items()}
    scope.update(dict.fromkeys(removed_tickers))
    if not landing_files or not scope:
        return Retractions()
    tickers = sorted(scope)
    create_temp_table(
        connection,
        _SCOPE_TABLE,
        pa.table(
            {
                "ticker": tickers,
                "window_start": [scope[ticker] for ticker in tickers],
                "reason": [
                    SOURCE_GONE if ticker in removed_tickers else REMOVED_FROM_WINDOW
                    for ticker in tickers
                ],
            },
            schema=pa.schema(
                [("ticker", pa.string()), ("window_start", pa.date32()), ("reason", pa.string())]
            ),
        ),
    )
    current = latest_landed_sql(_SCOPE_TABLE, retraction_files(retractions_dir))
    select = f"""
        select
            current.ticker, current.date, current.price_source, scope.reason,
            {sql_string(run_id)} as run_id,
            cast({sql_string(pd.Timestamp(fetched_at).tz_convert("UTC").isoformat())} as timestamptz) as fetched_at
        from ({current}) as current
        inner join {_SCOPE_TABLE} as scope on current.ticker = scope.ticker
        where current.price_source = {sql_string(price_source)}
            and not exists (
                select 1 from ({present_sql}) as present
                where present.ticker = current.ticker and present.date = current.date
            )
        order by current.ticker, current.date
    """
    connection.execute("set timezone = 'UTC'")
    connection.execute(
        f"create or replace temp table run_retractions as {select}",
        {"files": [str(path) for path in landing_files]},
    )
    counts = connection.execute(
        "select ticker, count(*) from run_retractions group by ticker order by ticker"
    ).fetchall()
    if not counts:
        return Retractions()
    ensure_retractions(retractions_dir)
    final = retractions_dir / landing_file_name(fetched_at, price_source, run_id)
    with write_once(final) as temporary:
        connection.execute(
            f"copy (select * from run_retractions) to {sql_string(str(temporary))} (format parquet)"
        )
    return Retractions(final, {ticker: int(count) for ticker, count in counts})


def retractions_sql_for_present(fetched_table: str, streamed_keys_sql: str | None) -> str:
    """The keys a source holds now: its fetched table, plus the keys of its streamed rows."""
    present = f"select ticker, date from {fetched_table}"
    if streamed_keys_sql:
        present += f" union all ({streamed_keys_sql})"
    return present
