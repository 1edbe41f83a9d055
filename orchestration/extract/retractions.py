"""Retractions: landed rows that their source no longer holds, recorded, never deleted.

Landing files are immutable, so a row removed from its source (a bad line deleted from a CSV
file, a removed file) cannot be taken out of them. Instead the run that notices writes a
retraction file under ``landing/retractions/``: one row per (ticker, date) with the source whose
row it withdraws, the reason, the run id and the fetch time, written like a landing file
(temporary name, then link; never rewritten). The landing files keep their schema: readers that
do not know retractions see exactly what they saw before.

Every reader of what currently counts honours them the same way: a retraction withdraws the
rows of its source (``price_source``) for its ticker and date fetched before it; of the rows
left, the latest fetch wins (``not_retracted_sql``, used by ``landed.latest_landed_sql``,
``landed.read_watermarks`` and the audit's pending batch; dbt's ``int_prices__audited``). A
later fetch of the same key lands again and counts again; another source's row of the key is
not touched.

What is retracted (``land_retractions``, ``retract_demo_prices``):
- keys inside a ticker's fetch window that the source read whole (``SourceFetch.complete``:
  the CSV folder's files read this run) and that are landed, currently, by that source, but
  absent from what the source holds now; rows before the window are never compared (a file
  cut short by accident does not erase a history);
- every current key of a ticker that a source landed and no longer lists (a removed file; for
  sources other than a folder, with ``--universe all`` only), unless the ticker is curated (it
  stays a failed ticker and its rows are kept);
- every current demo row, at once, when the data dir holds real prices: synthetic and market
  prices never meet in one warehouse (this is the demo rule, in one place).
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
REPLACED_BY_REAL_PRICES = "real prices replace the demo prices"
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
    """SELECT of ticker, date, price_source, fetched_at of every retraction in ``files`` (none
    if empty)."""
    if not files:
        return (
            "select cast(null as varchar) as ticker, cast(null as date) as date, "
            "cast(null as varchar) as price_source, cast(null as timestamptz) as fetched_at "
            "where false"
        )
    return (
        "select ticker, date, price_source, fetched_at "
        f"from read_parquet({sql_string_list(str(path) for path in files)})"
    )


def not_retracted_sql(landed: str, retractions: Sequence[Path]) -> str:
    """A condition on the landed row aliased ``landed``: no later retraction of its source
    withdrew it (the one spelling of the rule in Python; dbt's is in int_prices__audited)."""
    return f"""not exists (
        select 1 from ({retracted_keys_sql(retractions)}) as retracted
        where retracted.ticker = {landed}.ticker and retracted.date = {landed}.date
            and retracted.price_source = {landed}.price_source
            and retracted.fetched_at > {landed}.fetched_at
    )"""


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
    files = [str(path) for path in landing_files]
    return _write_retractions(
        connection,
        select,
        files,
        retractions_dir / landing_file_name(fetched_at, price_source, run_id),
    )


def _write_retractions(
    connection: duckdb.DuckDBPyConnection, select: str, files: Sequence[str], final: Path
) -> Retractions:
    """Write the rows of ``select`` (over the landing files ``$files``) as the retraction file
    ``final``; no file when there are none."""
    connection.execute(
        f"create or replace temp table run_retractions as {select}", {"files": files}
    )
    counts = connection.execute(
        "select ticker, count(*) from run_retractions group by ticker order by ticker"
    ).fetchall()
    if not counts:
        return Retractions()
    ensure_retractions(final.parent)
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


def retract_demo_prices(
    connection: duckdb.DuckDBPyConnection,
    *,
    landing_files: Sequence[Path],
    retractions_dir: Path,
    run_id: str,
    fetched_at: datetime,
) -> Retractions:
    """Retract every current demo row (every demo ticker at once) as one new file; none when
    no demo row counts. Called by runs into a data dir that holds real prices."""
    from orchestration.extract.landed import landing_file_name, source_of
    from orchestration.extract.schema import DEMO_SOURCE

    demo_files = [path for path in landing_files if source_of(path) == DEMO_SOURCE]
    if not demo_files:
        return Retractions()
    stamp = pd.Timestamp(fetched_at).tz_convert("UTC").isoformat()
    connection.execute("set timezone = 'UTC'")
    select = f"""
        select distinct landed.ticker, landed.date, landed.price_source,
            {sql_string(REPLACED_BY_REAL_PRICES)} as reason, {sql_string(run_id)} as run_id,
            cast({sql_string(stamp)} as timestamptz) as fetched_at
        from read_parquet($files) as landed
        where landed.price_source = {sql_string(DEMO_SOURCE)}
            and {not_retracted_sql("landed", retraction_files(retractions_dir))}
        order by landed.ticker, landed.date
    """
    final = retractions_dir / landing_file_name(fetched_at, DEMO_SOURCE, run_id)
    return _write_retractions(connection, select, [str(path) for path in demo_files], final)
