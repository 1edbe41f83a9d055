"""The one shape every price source returns, before it is landed.

Each source (yfinance, CSV folder, demo generator) produces a pandas frame with exactly
``PRICE_COLUMNS``: one row per ticker and trading date. The landing step adds provenance
(price_source, run_id, fetched_at); the landing files' schema is stated and checked by
tests/extract/test_landing.py.
"""

from __future__ import annotations

import pandas as pd

PRICE_COLUMNS: list[str] = ["ticker", "date", "open", "high", "low", "close", "adj_close", "volume"]
VALUE_COLUMNS: list[str] = ["open", "high", "low", "close", "adj_close", "volume"]
# The price_source of synthetic rows: kept apart from real prices in watermarks and marts.
DEMO_SOURCE = "demo"


def empty_price_frame() -> pd.DataFrame:
    """A zero-row frame in the standard shape, for sources that found nothing."""
    return normalize_price_frame(pd.DataFrame({column: [] for column in PRICE_COLUMNS}))


def normalize_price_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast a source's frame to the standard dtypes and column order, sorted by ticker and date.

    ``date`` becomes tz-naive midnight ``datetime64[ns]``; values become float64 (NaN where a
    source has no open/high/low/volume). Raises KeyError naming any missing column.
    """
    missing = [column for column in PRICE_COLUMNS if column not in frame.columns]
    if missing:
        raise KeyError(f"price frame is missing columns {missing}")
    result = frame[PRICE_COLUMNS].copy()
    result["ticker"] = result["ticker"].astype("string")
    result["date"] = pd.to_datetime(result["date"]).astype("datetime64[ns]").dt.normalize()
    for column in VALUE_COLUMNS:
        result[column] = pd.to_numeric(result[column], errors="raise").astype("float64")
    return result.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)
