"""The audit ledger of the landing zone: which landing files passed the quality gate, and which
of their rows were quarantined. Append-only Parquet files under the data dir's ledger folder (``DataPaths.ledger``),
written like landing files (temporary name, then link), so the warehouse can be rebuilt from
the landing files and the ledger alone.

dbt's raw price view reads only accepted landing files and leaves quarantined rows out: data
that was never audited, or failed the audit, never reaches the marts (write, audit, publish).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration import settings
from orchestration.atomic import write_once
from orchestration.extract.landed import landed_files
from orchestration.extract.schema import VALUE_COLUMNS
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


# The pending batch as the raw_prices suite sees it, in SQL: the latest fetch of each ticker and
# date among the pending rows no later retraction of their source withdrew (the later file breaks
# ties of equal fetch stamps; withdrawn rows do not count: they are not judged, and the file is
# accepted with its other rows), with the landing file it comes from,
# each row's absolute return against the ticker's previous row in the batch (for the jump
# warning) and its adj_close against the ticker's previous plausible adj_close in the batch (in
# (0, PRICE_CEILING]; for the 100x rule: a row after an absurd one is measured against the last
# sane price, so only the absurd row breaks the rule). NaN prices become NULL: GX counted NaN as missing on
# pandas frames, and in SQL a NaN is neither null nor below zero. Rows carry a small file number,
# not the file name, through the two windows (sorting millions of path strings costs seconds);
# the name is looked up at the end. The dedup and the lag window are most of the audit's time
# (about 8 s and 5 s of 6.3 M rows on 2 busy cores, against 4.6 s to read them).
PENDING_BATCH_SQL = """
    with fetches as ({fetches}),
    current as (
        select * from fetches as landed
        where {not_retracted}
        qualify row_number() over (
            partition by ticker, date order by fetched_at desc, file_no desc
        ) = 1
    ),
    numbers as (
        select * exclude (file_no) replace ({nan_as_null}),
            $names[file_no + 1] as landing_file
        from current
    )
    select *,
        abs(adj_close / lag(adj_close) over (partition by ticker order by date) - 1)
            as abs_return_in_batch,
        case when adj_close > 0 and adj_close <= {ceiling} then
            adj_close / lag(
                case when adj_close > 0 and adj_close <= {ceiling} then adj_close end
                ignore nulls
            ) over (partition by ticker order by date)
        end as adj_close_ratio_in_batch
    from numbers
"""
# The highest price any market ever quoted is far below this: the raw_prices suite's
# ``*_not_above_1e7`` rules use the same bound (tests/faults/test_plausibility.py checks).
PRICE_CEILING = 1e7


def pending_batch_query(pending: Sequence[Path], retractions: Sequence[Path] = ()) -> str:
    """``PENDING_BATCH_SQL`` over the pending files (file names are its ``$names``), without
    the rows ``retractions`` (files) withdrew."""
    from orchestration.extract.retractions import not_retracted_sql

    fetches = " union all ".join(
        f"select *, {number} as file_no from read_parquet({_literal(str(path))})"
        for number, path in enumerate(pending)
    )
    nan_as_null = ", ".join(
        f"case when isnan({c}) then null else {c} end as {c}" for c in VALUE_COLUMNS
    )
    return PENDING_BATCH_SQL.format(
        fetches=fetches,
        nan_as_null=nan_as_null,
        ceiling=repr(PRICE_CEILING),
        not_retracted=not_retracted_sql("landed", retractions),
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def stage_pending_batch(
    connection: duckdb.DuckDBPyConnection,
    pending: Sequence[Path],
    table: str,
    retractions: Sequence[Path] = (),
) -> int:
    """Write the pending batch (``PENDING_BATCH_SQL``) into ``table`` of ``connection``'s
    database and return its row count. Staged once, the batch is read by every expectation's
    query instead of deduplicating the landing files each time."""
    if not pending:
        raise ValueError("no pending landing files to stage")
    connection.execute(
        f"create or replace table {table} as {pending_batch_query(pending, retractions)}",
        {"names": [path.name for path in pending]},
    )
    (rows,) = connection.execute(f"select count(*) from {table}").fetchall()[0]
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
    quarantined: pd.DataFrame | None = None,
    write_quarantine: Callable[[Path], None] | None = None,
    run_id: str,
    audited_at: datetime,
) -> None:
    """Append this audit's verdict: quarantined rows first, then the accepted files, so a crash
    between the two never exposes a row that should have been quarantined.

    The quarantined rows come either as a frame or, from the audit, as ``write_quarantine``,
    which writes them as Parquet of ``QUARANTINE_SCHEMA`` to the path it is given (DuckDB's
    ``COPY``, without passing through Python).
    """
    ensure_ledger(ledger)
    accepted_dir, quarantine_dir = ledger.accepted, ledger.quarantine
    if write_quarantine is not None:
        with write_once(quarantine_dir / f"{run_id}.parquet") as temporary:
            write_quarantine(temporary)
    elif quarantined is not None and not quarantined.empty:
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
