"""The audit ledger of the landing zone: which landing files passed the quality gate, and which
of their rows were quarantined. Append-only Parquet files under ``<data dir>/quality/ledger/``,
written like landing files (temporary name, then link), so the warehouse can be rebuilt from
``landing/`` and ``quality/ledger/`` alone.

dbt's raw price view reads only accepted landing files and leaves quarantined rows out: data
that was never audited, or failed the audit, never reaches the marts (write, audit, publish).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.extract.landing import landed_files

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


def ledger_dirs(quality_dir: Path) -> tuple[Path, Path]:
    """(accepted dir, quarantine dir) of the ledger."""
    root = quality_dir / "ledger"
    return root / "accepted", root / "quarantine"


def accepted_file_names(quality_dir: Path) -> set[str]:
    accepted_dir, _ = ledger_dirs(quality_dir)
    files = sorted(accepted_dir.glob("*.parquet")) if accepted_dir.is_dir() else []
    if not files:
        return set()
    with duckdb.connect() as connection:
        rows = connection.execute(
            "select distinct landing_file from read_parquet($files)",
            {"files": [str(path) for path in files]},
        ).fetchall()
    return {name for (name,) in rows}


def pending_landing_files(landing_dir: Path, quality_dir: Path) -> list[Path]:
    """Landing files not accepted yet, oldest first: the batch the next audit validates."""
    accepted = accepted_file_names(quality_dir)
    return [path for path in landed_files(landing_dir) if path.name not in accepted]


def read_pending_rows(pending: Iterable[Path]) -> pd.DataFrame:
    """The current version of every ticker and date among the pending files (a later fetch
    supersedes an earlier one), with the landing file each row comes from."""
    files = [str(path) for path in pending]
    if not files:
        return pd.DataFrame()
    query = """
        select * exclude (filename), parse_filename(filename) as landing_file
        from read_parquet($files, filename = true)
        qualify row_number() over (
            partition by ticker, date order by fetched_at desc, filename desc
        ) = 1
        order by ticker, date
    """
    with duckdb.connect() as connection:
        rows = connection.execute(query, {"files": files}).df()
    rows["date"] = pd.to_datetime(rows["date"]).astype("datetime64[ns]")
    return rows


def record_audit(
    quality_dir: Path,
    *,
    accepted: Iterable[Path],
    quarantined: pd.DataFrame,
    run_id: str,
    audited_at: datetime,
) -> None:
    """Append this audit's verdict: quarantined rows first, then the accepted files, so a crash
    between the two never exposes a row that should have been quarantined."""
    accepted_dir, quarantine_dir = ledger_dirs(quality_dir)
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
    final_path.parent.mkdir(parents=True, exist_ok=True)
    temporary_path = final_path.with_name(f".{final_path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, temporary_path)
        os.link(temporary_path, final_path)  # never replaces an existing ledger file
    finally:
        temporary_path.unlink(missing_ok=True)
