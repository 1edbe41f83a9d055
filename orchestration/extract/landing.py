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
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.extract.demo_source import DEMO_SOURCE
from orchestration.extract.schema import LANDING_SCHEMA, PRICE_COLUMNS, VALUE_COLUMNS

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


def write_landing_file(
    prices: pd.DataFrame, landing_dir: Path, *, price_source: str, run_id: str, fetched_at: datetime
) -> Path:
    """Write ``prices`` (standard columns) as one new immutable landing file and return its path.

    ``prices`` may carry its own ``price_source`` column (one run can mix sources per ticker);
    otherwise every row gets ``price_source``.
    """
    landing_dir.mkdir(parents=True, exist_ok=True)
    final_path = landing_dir / landing_file_name(fetched_at, price_source, run_id)
    if final_path.exists():
        raise FileExistsError(f"landing file {final_path} exists already; landing is append-only")
    table = _to_landing_table(
        prices, price_source=price_source, run_id=run_id, fetched_at=fetched_at
    )
    temporary_path = landing_dir / f".{final_path.name}.{os.getpid()}.tmp"
    try:
        pq.write_table(table, temporary_path, compression="zstd")
        _fsync_file(temporary_path)
        # link() never replaces an existing file, unlike rename(): a landed file stays immutable.
        os.link(temporary_path, final_path)
        _fsync_directory(landing_dir)
    finally:
        temporary_path.unlink(missing_ok=True)
    return final_path


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


def read_latest_landed(landing_dir: Path, tickers: Iterable[str], since: date) -> pd.DataFrame:
    """The current landed version (latest fetch) of each ticker and date on or after ``since``."""
    files = landed_files(landing_dir)
    wanted = sorted(set(tickers))
    columns = [*PRICE_COLUMNS, "price_source"]
    if not files or not wanted:
        return pd.DataFrame({column: [] for column in columns})
    # fetched_at, then file name, orders fetches; the file name breaks ties of equal stamps.
    query = f"""
        select {", ".join(columns)}
        from read_parquet($files, filename = true)
        where date >= $since and ticker in (select unnest($tickers))
        qualify row_number() over (
            partition by ticker, date order by fetched_at desc, filename desc
        ) = 1
    """
    parameters = {"files": [str(path) for path in files], "since": since, "tickers": wanted}
    with duckdb.connect() as connection:
        landed = connection.execute(query, parameters).df()
    landed["date"] = pd.to_datetime(landed["date"]).astype("datetime64[ns]")
    return landed


def select_new_or_revised(fetched: pd.DataFrame, landed: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``fetched`` that are not landed yet, or whose values or source differ.

    Both frames carry the standard columns plus ``price_source``. NaN equals NaN here: a missing
    volume fetched twice is not a revision.
    """
    if landed.empty:
        return fetched.reset_index(drop=True)
    keys = ["ticker", "date"]
    compared = [*VALUE_COLUMNS, "price_source"]
    merged = fetched.merge(
        landed[keys + compared], on=keys, how="left", suffixes=("", "__landed"), indicator=True
    )
    is_new = merged["_merge"] == "left_only"
    is_revised = pd.Series(False, index=merged.index)
    for column in compared:
        now, before = merged[column], merged[f"{column}__landed"]
        both_missing = now.isna() & before.isna()
        is_revised |= ~both_missing & ~(now == before).fillna(False).astype(bool)
    changed = merged[is_new | is_revised]
    return changed[fetched.columns].reset_index(drop=True)


def _to_landing_table(
    prices: pd.DataFrame, *, price_source: str, run_id: str, fetched_at: datetime
) -> pa.Table:
    frame = prices.copy()
    if "price_source" not in frame.columns:
        frame["price_source"] = price_source
    frame["run_id"] = run_id
    frame["fetched_at"] = pd.Timestamp(fetched_at).tz_convert("UTC")
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return pa.Table.from_pandas(
        frame[LANDING_SCHEMA.names], schema=LANDING_SCHEMA, preserve_index=False
    )


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
