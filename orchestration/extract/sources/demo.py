"""Deterministic synthetic prices, clearly labelled `demo`, for offline runs, tests and benchmarks.

Each ticker's path depends only on (seed, ticker, date range): adding tickers to a run never
changes the prices of the others, and the same arguments always give the same frame.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from orchestration.extract.schema import DEMO_SOURCE, empty_price_frame, normalize_price_frame
from orchestration.extract.scratch import add_fetched_frame
from orchestration.extract.sources import SourceFetch, windows_by_start

if TYPE_CHECKING:
    import duckdb

    from orchestration.extract.landing import LandedBatch

TRADING_DAYS_PER_YEAR = 252
# The fixed calendar every synthetic path is drawn over (see generate_demo_prices).
DEMO_ORIGIN = date(2000, 1, 3)
DEMO_HORIZON = date(2045, 12, 29)
DEMO_ANCHOR = pd.Timestamp("2020-01-02")


def is_crypto_ticker(ticker: str) -> bool:
    """Crypto pairs (``BTC-USD``) trade every calendar day; everything else on weekdays."""
    return ticker.upper().endswith("-USD")


def demo_ticker_names(count: int) -> list[str]:
    """Synthetic ticker symbols for ``--universe all`` with the demo source: DEMO00001, ..."""
    return [f"DEMO{index:05d}" for index in range(1, count + 1)]


def trading_dates(ticker: str, start: date, end: date) -> pd.DatetimeIndex:
    """Calendar of the synthetic market: weekdays for equities, every day for crypto."""
    frequency = "D" if is_crypto_ticker(ticker) else "B"
    return pd.date_range(start=start, end=end, freq=frequency)


def _ticker_rng(seed: int, ticker: str) -> np.random.Generator:
    # crc32, not hash(): Python's str hash is salted per process and would break determinism.
    return np.random.default_rng([seed, zlib.crc32(ticker.encode("utf-8"))])


def _ticker_prices(ticker: str, dates: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    rng = _ticker_rng(seed, ticker)
    annual_trend = rng.uniform(-0.03, 0.12)
    annual_volatility = rng.uniform(0.25, 1.00)
    level_at_anchor = rng.uniform(5.0, 400.0)
    days_per_year = 365 if is_crypto_ticker(ticker) else TRADING_DAYS_PER_YEAR

    # log price = level + trend + a mean-reverting AR(1) shock. A plain random walk over the
    # 46-year calendar would wander to absurd levels; the AR(1) keeps daily volatility realistic
    # while the level stays within a few multiples of the anchor. ewm(adjust=False) is the AR(1)
    # filter y_t = (1 - a) * y_(t-1) + a * x_t, run in C rather than a Python loop.
    daily_sigma = annual_volatility / np.sqrt(days_per_year)
    reversion = 1.0 / days_per_year
    shocks = rng.normal(0.0, daily_sigma, size=len(dates)) / reversion
    shocks[0] = 0.0  # ewm starts at the first value: start the deviation at zero, not a shock
    deviation = pd.Series(shocks).ewm(alpha=reversion, adjust=False).mean().to_numpy()
    years_from_anchor = (dates - DEMO_ANCHOR).days.to_numpy() / 365.25
    close = level_at_anchor * np.exp(annual_trend * years_from_anchor + deviation)

    # Open near the previous close; high/low bracket open and close, so high >= low always.
    previous_close = np.concatenate([[close[0]], close[:-1]])
    open_ = previous_close * np.exp(rng.normal(0.0, daily_sigma / 3, size=len(dates)))
    spread = np.abs(rng.normal(0.0, daily_sigma / 2, size=(2, len(dates))))
    high = np.maximum(open_, close) * np.exp(spread[0])
    low = np.minimum(open_, close) * np.exp(-spread[1])
    volume = np.round(rng.lognormal(mean=13.0, sigma=0.6, size=len(dates)))
    return pd.DataFrame(
        {
            "ticker": ticker,
            "date": dates,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "adj_close": close,
            "volume": volume,
        }
    )


def generate_demo_prices(
    tickers: Sequence[str], start: date, end: date, seed: int = 42
) -> pd.DataFrame:
    """Synthetic daily prices for ``tickers`` from ``start`` to ``end`` inclusive.

    Each ticker's whole path is always generated over the same fixed calendar
    (``DEMO_ORIGIN`` to ``DEMO_HORIZON``) and then cut to the window, so a price never depends on
    the window asked for: an incremental run that asks for the last few days gets exactly the
    values a full run produced for those days.
    """
    if start < DEMO_ORIGIN or end > DEMO_HORIZON:
        raise ValueError(
            f"demo prices cover {DEMO_ORIGIN} to {DEMO_HORIZON}; asked for {start} to {end}"
        )
    if end < start:
        return empty_price_frame()
    frames = []
    for ticker in tickers:
        prices = _ticker_prices(ticker, trading_dates(ticker, DEMO_ORIGIN, DEMO_HORIZON), seed)
        in_window = prices["date"].between(pd.Timestamp(start), pd.Timestamp(end))
        frames.append(prices[in_window])
    if not frames:
        return empty_price_frame()
    return normalize_price_frame(pd.concat(frames, ignore_index=True))


class DemoSource:
    """The generator as a price source: every ticker gets rows (``DEMO...`` names too)."""

    label = DEMO_SOURCE
    listing_is_what_it_holds = False

    def __init__(self, *, demo_tickers: int, seed: int, end: date | None) -> None:
        self.demo_tickers = demo_tickers
        self.seed = seed
        self.end = end or date.today()

    def list_tickers(self) -> list[str]:
        return demo_ticker_names(self.demo_tickers)

    def fetch(
        self, connection: duckdb.DuckDBPyConnection, windows: Mapping[str, date | None]
    ) -> SourceFetch:
        for start, tickers in windows_by_start(windows).items():
            prices = generate_demo_prices(tickers, start, self.end, self.seed)
            add_fetched_frame(connection, prices, self.label)
        return SourceFetch()

    def after_landing(self, batch: LandedBatch, failed: Collection[str]) -> list[str]:
        return []
