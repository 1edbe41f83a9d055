"""Landing a folder larger than DuckDB's memory cap spills instead of running out of memory,
also when a file of another shape sits beside the minimal ``Date,Close`` files.

The real market export (12,467 minimal files and a ``BTC-USD.csv`` in yfinance's full shape)
ran out of memory under the default 2 GB cap where a plain sorted COPY of the same files did
not: the parsed file's few thousand rows went first in a UNION ALL with the 34 M scanned rows,
and DuckDB's sort, fed by the two pipelines, did not spill. This is the same situation scaled
down: 1.2 M rows under a 64 MB cap.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from orchestration import settings
from orchestration.extract.landing import land_new_or_revised
from orchestration.extract.scratch import FETCHED_TABLE, register_windows, scratch_database
from orchestration.extract.sources.csv_folder import CsvFolderSource
from tests.exports import write_generated_exports

FILES = 400
ROWS_PER_FILE = 3000
MEMORY_LIMIT = "64MB"


def _write_minimal_files(csv_dir: Path) -> int:
    dates = pd.bdate_range("2014-01-01", periods=ROWS_PER_FILE).strftime("%Y-%m-%d").to_numpy()
    rng = np.random.default_rng(3)
    for index in range(FILES):
        closes = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, ROWS_PER_FILE)))
        lines = np.char.add(np.char.add(dates, ","), closes.astype(str))
        (csv_dir / f"M{index:04d}.csv").write_text("Date,Close\n" + "\n".join(lines) + "\n")
    return FILES * ROWS_PER_FILE


def test_a_parsed_file_beside_many_minimal_ones_lands_within_the_memory_cap(
    tmp_path: Path, monkeypatch
) -> None:
    csv_dir = tmp_path / "exports"
    csv_dir.mkdir()
    minimal_rows = _write_minimal_files(csv_dir)
    # A file in yfinance's full shape (lower-case names, a Log_Return column): parsed one by
    # one into the fetched table, unlike the minimal files, which are streamed.
    shapes = write_generated_exports(tmp_path / "shapes")
    shutil.copy(shapes / "BTC-USD.csv", csv_dir / "BTC-USD.csv")
    btc_rows = len(pd.read_csv(csv_dir / "BTC-USD.csv"))

    source = CsvFolderSource(csv_dir)
    windows = {ticker: None for ticker in source.list_tickers()}
    landing_dir = tmp_path / "landing"
    monkeypatch.setenv(settings.DUCKDB_MEMORY_LIMIT.env_var, MEMORY_LIMIT)
    with scratch_database(tmp_path / "scratch") as connection:
        register_windows(connection, windows)
        fetched = source.fetch(connection, windows)
        assert connection.execute(f"select count(*) from {FETCHED_TABLE}").fetchone() == (btc_rows,)
        assert fetched.streamed is not None
        batch = land_new_or_revised(
            connection,
            landing_dir,
            price_source="csv",
            run_id="run-1",
            fetched_at=datetime(2026, 12, 7, tzinfo=UTC),
            streamed=fetched.streamed,
        )

    assert batch.rows == minimal_rows + btc_rows
    assert batch.rows_by_ticker["BTC-USD"] == btc_rows
    landed = pq.read_table(batch.path, columns=["ticker", "date"]).to_pandas()
    # One file, sorted by ticker and date.
    keys = list(zip(landed["ticker"], landed["date"], strict=True))
    assert keys == sorted(keys)
