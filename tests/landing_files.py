"""Test helpers around the landing zone: write a given frame as a landing file, land a frame
through the product's landing step, and read the current landed version.

Runs land through ``extract.landing.land_new_or_revised`` only; tests also need landing files
of exact contents (duplicates, revisions, other sources) to set up the audit and dbt, which
``write_landing_file`` writes straight in the landing files' contract (``LANDING_SCHEMA``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.extract.landed import landed_files, landing_file_name, latest_landed_sql
from orchestration.extract.landing import LandedBatch, land_new_or_revised
from orchestration.extract.schema import PRICE_COLUMNS
from orchestration.extract.scratch import add_fetched_frame, register_windows, scratch_database

# The contract of a landing file (dbt's landing source reads it). `date` is the exchange-local
# trading date.
LANDING_SCHEMA = pa.schema(
    [
        ("ticker", pa.string()),
        ("date", pa.date32()),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("adj_close", pa.float64()),
        ("volume", pa.float64()),
        ("price_source", pa.string()),
        ("run_id", pa.string()),
        ("fetched_at", pa.timestamp("us", tz="UTC")),
    ]
)


def write_landing_file(
    prices: pd.DataFrame, landing_dir: Path, *, price_source: str, run_id: str, fetched_at: datetime
) -> Path:
    """``prices`` (standard columns, optionally its own ``price_source`` column) as one landing
    file, whole and as given, named as the product names them; refuses an existing name."""
    frame = prices.copy()
    if "price_source" not in frame.columns:
        frame["price_source"] = price_source
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    frame["run_id"] = run_id
    frame["fetched_at"] = pd.Timestamp(fetched_at).tz_convert("UTC")
    for column in ("open", "high", "low", "close", "adj_close", "volume"):
        frame[column] = frame[column].astype("float64")
    frame["ticker"] = frame["ticker"].astype(str)
    table = pa.Table.from_pandas(
        frame[LANDING_SCHEMA.names], schema=LANDING_SCHEMA, preserve_index=False
    )
    landing_dir.mkdir(parents=True, exist_ok=True)
    path = landing_dir / landing_file_name(fetched_at, price_source, run_id)
    if path.exists():
        raise FileExistsError(f"landing file {path} exists already")
    pq.write_table(table, path)
    return path


def land_frame(
    fetched: pd.DataFrame,
    landing_dir: Path,
    run_id: str,
    *,
    fetched_at: datetime,
    windows: Mapping[str, date | None] | None = None,
) -> LandedBatch:
    """One run's landing step (the product's) on ``fetched``, with its price_source column;
    every ticker of the frame is fetched whole unless ``windows`` says otherwise."""
    windows = windows or {ticker: None for ticker in fetched["ticker"].unique()}
    with scratch_database(landing_dir.parent / ".scratch") as connection:
        register_windows(connection, windows)
        for source, rows in fetched.groupby("price_source"):
            add_fetched_frame(connection, rows, str(source))
        return land_new_or_revised(
            connection,
            landing_dir,
            price_source=str(fetched["price_source"].iloc[0]),
            run_id=run_id,
            fetched_at=fetched_at,
        )


def read_latest_landed(
    landing_dir: Path, tickers: Iterable[str], since: date, retractions: Sequence[Path] = ()
) -> pd.DataFrame:
    """The current landed version (latest fetch) of each ticker and date on or after ``since``,
    without the rows ``retractions`` (files) withdrew."""
    files = landed_files(landing_dir)
    wanted = sorted(set(tickers))
    columns = [*PRICE_COLUMNS, "price_source"]
    if not files or not wanted:
        return pd.DataFrame({column: [] for column in columns})
    with duckdb.connect() as connection:
        windows = pa.table({"ticker": wanted, "window_start": [since] * len(wanted)})
        connection.register("read_windows", windows)
        sql = latest_landed_sql("read_windows", retractions) + " order by ticker, date"
        landed = connection.execute(sql, {"files": [str(path) for path in files]}).df()
    landed["date"] = pd.to_datetime(landed["date"]).astype("datetime64[ns]")
    return landed
