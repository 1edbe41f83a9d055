"""The audit ledger of the landing zone: which landing files passed the quality gate, and which
of their rows were quarantined. Append-only Parquet files under the data dir's ledger folder (``DataPaths.ledger``),
written like landing files (temporary name, then link), so the warehouse can be rebuilt from
the landing files and the ledger alone.

dbt's raw price view reads only accepted landing files and leaves quarantined rows out: data
that was never audited, or failed the audit, never reaches the marts (write, audit, publish).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration import settings
from orchestration.atomic import write_once
from orchestration.extract.landing import landed_files
from orchestration.paths import LedgerPaths

ACCEPTED_SCHEMA = pa.schema(
    [
        ("landing_file", pa.string()),
        ("run_id", pa.string()),
        ("accepted_at", pa.timestamp("us", tz="UTC")),
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [
        ("landing_file", pa.string()),
        ("ticker", pa.string()),
        ("date", pa.date32()),
        ("close", pa.float64()),
        ("rules", pa.string()),
        ("run_id", pa.string()),
        ("quarantined_at", pa.timestamp("us", tz="UTC")),
    ]
)


def accepted_file_names(ledger: LedgerPaths) -> set[str]:
    accepted_dir = ledger.accepted
    files = sorted(accepted_dir.glob("*.parquet")) if accepted_dir.is_dir() else []
    if not files:
        return set()
    with duckdb.connect(config=settings.duckdb_config()) as connection:
        rows = connection.execute(
            "select distinct landing_file from read_parquet($files)",
            {"files": [str(path) for path in files]},
        ).fetchall()
    return {name for (name,) in rows}


def pending_landing_files(landing_dir: Path, ledger: LedgerPaths) -> list[Path]:
    """Landing files not accepted yet, oldest first: the batch the next audit validates."""
    accepted = accepted_file_names(ledger)
    return [path for path in landed_files(landing_dir) if path.name not in accepted]


# Every fetch of each ticker and date, latest first (the file name breaks ties of equal fetch
# stamps); _fetch_current keeps the first of each. One sort plus a pandas pass is ~40% faster
# than a row_number() window followed by the sort. `date` leaves DuckDB as a timestamp:
# converting DATE to pandas costs ~3 s per million rows, a timestamp almost nothing.
_FETCHES_LATEST_FIRST = """
    select * exclude (filename) replace (date::timestamp as date),
        parse_filename(filename) as landing_file
    from read_parquet($files, filename = true)
    {where}
    order by ticker, date, fetched_at desc, filename desc
"""


@dataclass(frozen=True)
class TickerChunk:
    """A run of consecutive tickers (in sort order) of the pending files, read together.

    A chunk always holds whole tickers: the rules that compare a ticker's rows with each other
    (one row per ticker and date, the jump against the previous day) then see all of them, and
    the latest-fetch-wins choice of each ticker and date sees every pending fetch of it.
    ``first_ticker`` None is the chunk of rows without a ticker.
    """

    first_ticker: str | None
    last_ticker: str | None
    tickers: int
    # Landed rows, superseded fetches included: an upper bound of the rows the chunk yields.
    landed_rows: int


def plan_ticker_chunks(pending: Sequence[Path], chunk_rows: int) -> list[TickerChunk]:
    """Cut the pending files' tickers, in order, into chunks of at most ``chunk_rows`` landed
    rows (a ticker with more rows than that is a chunk of its own)."""
    files = [str(path) for path in pending]
    if not files:
        return []
    query = """
        select ticker, count(*) from read_parquet($files)
        group by ticker order by ticker nulls last
    """
    with duckdb.connect(config=settings.duckdb_config()) as connection:
        counts = connection.execute(query, {"files": files}).fetchall()
    chunks: list[TickerChunk] = []
    first = last = None
    tickers = rows = 0
    for ticker, count in counts:
        if ticker is None:
            continue
        if tickers and rows + count > chunk_rows:
            chunks.append(TickerChunk(first, last, tickers, rows))
            tickers = rows = 0
        if not tickers:
            first = ticker
        last, tickers, rows = ticker, tickers + 1, rows + count
    if tickers:
        chunks.append(TickerChunk(first, last, tickers, rows))
    chunks.extend(TickerChunk(None, None, 1, count) for ticker, count in counts if ticker is None)
    return chunks


def iter_pending_chunks(
    pending: Sequence[Path], chunks: Iterable[TickerChunk]
) -> Iterator[pd.DataFrame]:
    """The current rows (see ``read_pending_rows``) of each chunk, in ticker order.

    Each chunk is selected by a ticker range, so with landing files sorted by ticker DuckDB
    skips the row groups outside it; only one chunk's rows are in memory at a time.
    """
    files = [str(path) for path in pending]
    with duckdb.connect(config=settings.duckdb_config()) as connection:
        for chunk in chunks:
            if chunk.first_ticker is None:
                where, parameters = "where ticker is null", {"files": files}
            else:
                where = "where ticker >= $first and ticker <= $last"
                parameters = {
                    "files": files,
                    "first": chunk.first_ticker,
                    "last": chunk.last_ticker,
                }
            yield _fetch_current(connection, _FETCHES_LATEST_FIRST.format(where=where), parameters)


def read_pending_rows(pending: Iterable[Path]) -> pd.DataFrame:
    """The current version of every ticker and date among the pending files (a later fetch
    supersedes an earlier one), with the landing file each row comes from. All in one frame:
    the audit reads them chunk by chunk instead (``iter_pending_chunks``)."""
    files = [str(path) for path in pending]
    if not files:
        return pd.DataFrame()
    with duckdb.connect(config=settings.duckdb_config()) as connection:
        return _fetch_current(connection, _FETCHES_LATEST_FIRST.format(where=""), {"files": files})


def _fetch_current(
    connection: duckdb.DuckDBPyConnection, query: str, parameters: dict[str, object]
) -> pd.DataFrame:
    """The first (latest) fetch of each ticker and date of ``query``'s rows, in their order."""
    # Through Arrow: about three times faster than .df() here, and strings stay Arrow-backed.
    fetches = connection.sql(query, params=parameters).to_arrow_table().to_pandas()
    rows = fetches.drop_duplicates(["ticker", "date"], keep="first", ignore_index=True)
    del fetches
    rows["date"] = rows["date"].astype("datetime64[ns]")
    return rows


# A zero-row file in each ledger folder: dbt reads the folders as sources with read_parquet,
# which fails on a glob that matches nothing, and the ledger starts empty.
SCHEMA_FILE_NAME = "_schema.parquet"


def ensure_ledger(ledger: LedgerPaths) -> None:
    """Create the ledger's folders, each with its zero-row schema file (once)."""
    for folder, schema in (
        (ledger.accepted, ACCEPTED_SCHEMA),
        (ledger.quarantine, QUARANTINE_SCHEMA),
    ):
        if not (folder / SCHEMA_FILE_NAME).exists():
            with contextlib.suppress(FileExistsError):  # another process made it first
                _write_once(schema.empty_table(), folder / SCHEMA_FILE_NAME)


def record_audit(
    ledger: LedgerPaths,
    *,
    accepted: Iterable[Path],
    quarantined: pd.DataFrame,
    run_id: str,
    audited_at: datetime,
) -> None:
    """Append this audit's verdict: quarantined rows first, then the accepted files, so a crash
    between the two never exposes a row that should have been quarantined."""
    ensure_ledger(ledger)
    accepted_dir, quarantine_dir = ledger.accepted, ledger.quarantine
    if not quarantined.empty:
        frame = quarantined.assign(run_id=run_id, quarantined_at=pd.Timestamp(audited_at))
        frame["date"] = pd.to_datetime(frame["date"]).dt.date
        table = pa.Table.from_pandas(
            frame[QUARANTINE_SCHEMA.names], schema=QUARANTINE_SCHEMA, preserve_index=False
        )
        _write_once(table, quarantine_dir / f"{run_id}.parquet")
    names = [path.name for path in accepted]
    if names:
        table = pa.table(
            {
                "landing_file": names,
                "run_id": [run_id] * len(names),
                "accepted_at": [pd.Timestamp(audited_at)] * len(names),
            },
            schema=ACCEPTED_SCHEMA,
        )
        _write_once(table, accepted_dir / f"{run_id}.parquet")


def _write_once(table: pa.Table, final_path: Path) -> None:
    with write_once(final_path) as temporary:
        pq.write_table(table, temporary)
