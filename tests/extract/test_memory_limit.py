"""A landing that hits DuckDB's memory cap fails with the setting to raise, not a traceback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestration.extract.landed import landed_files
from orchestration.extract.options import ExtractionError, ExtractionOptions
from orchestration.extract.prices import extract_prices
from orchestration.paths import DataPaths


def test_landing_out_of_duckdb_memory_names_the_setting_to_raise(
    tmp_path: Path, small_companies_seed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    dates = pd.bdate_range("2000-01-03", periods=3000).strftime("%Y-%m-%d")
    for index in range(40):
        closes = 10 + np.arange(len(dates)) * 0.01 + index
        body = "\n".join(f"{d},{c:.4f}" for d, c in zip(dates, closes, strict=True))
        (folder / f"T{index:03d}.csv").write_text("Date,Close\n" + body + "\n")
    monkeypatch.setenv("HASHPIVOT_DUCKDB_MEMORY_LIMIT", "10MB")
    options = ExtractionOptions(source="csv", csv_dir=folder, universe="all")
    paths = DataPaths(tmp_path / "data")
    with pytest.raises(ExtractionError) as raised:
        extract_prices(
            options,
            paths=paths,
            companies_seed=small_companies_seed,
            run_id="r1",
            fetched_at=datetime(2026, 1, 2, tzinfo=UTC),
            is_reachable=lambda: False,
        )
    message = str(raised.value)
    assert "landed_prices" in message
    assert "HASHPIVOT_DUCKDB_MEMORY_LIMIT=10MB" in message
    assert "Out of Memory" in message
    assert "\n" not in message
    assert landed_files(paths.landing_prices) == []
