"""Price exports the tests write themselves, in the shapes and with the quirks of the real
exports in ../shared/data/sample_prices: the twin of those files for a clone without ../shared
beside it (the GitHub workflow), so every test that reads the real files also runs on these.

Quirks carried over from the real files:
- equities in yfinance's ``history()`` shape with the exchange-local midnight as a UTC stamp,
  switching between 04:00 and 05:00 with daylight saving time;
- BTC-USD seven days a week, with lower-case names and an extra ``Log_Return`` column;
- a very short history (CRWV, a few days after its listing) and a long one;
- prices before a company's ``prices_valid_from`` (CORZ, HUT: another security);
- an unadjusted close that jumps more than +300% in one day (a reverse split) while the
  adjusted close does not (MARA), and a penny stock (BTDR).
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from orchestration.extract.sources.demo import generate_demo_prices
from orchestration.extract.universe import load_companies
from orchestration.paths import COMPANIES_SEED

NEW_YORK = ZoneInfo("America/New_York")
HISTORY_HEADER = ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]
SHORT_HISTORY_TICKER = "CRWV"
SHORT_HISTORY_DAYS = 5
SPLIT_TICKER = "MARA"
PENNY_TICKER = "BTDR"


def utc_stamp_of_new_york_midnight(day: date) -> str:
    """``2024-03-01 05:00:00+00:00``: how the real exports write a trading date."""
    midnight = pd.Timestamp(day).tz_localize(NEW_YORK)
    return midnight.tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S+00:00")


def _with_reverse_split(rows: pd.DataFrame) -> pd.DataFrame:
    """From the middle on, the unadjusted prices are 5x (a 1-for-5 reverse split: about +400%
    in a day); the adjusted close, as yfinance writes it, stays continuous."""
    rows = rows.copy()
    after = np.arange(len(rows)) >= len(rows) // 2
    for column in ("open", "high", "low", "close"):
        rows.loc[after, column] = rows.loc[after, column] * 5
    return rows


def write_generated_exports(
    csv_dir: Path,
    *,
    first_day: date = date(2024, 3, 1),
    last_day: date = date(2025, 3, 31),
    quirky: bool = True,
) -> Path:
    """One file per curated ticker. ``quirky=False`` writes every file in the plain
    ``Date,Open,High,Low,Close,Adj Close,Volume`` shape with bare dates (for tests that append
    rows of their own)."""
    csv_dir.mkdir(parents=True, exist_ok=True)
    tickers = [company.ticker for company in load_companies(COMPANIES_SEED)]
    prices = generate_demo_prices(tickers, first_day, last_day)
    for ticker, rows in prices.groupby("ticker"):
        rows = rows.sort_values("date").reset_index(drop=True)
        path = csv_dir / f"{ticker}.csv"
        if not quirky:
            _write_history(path, rows, stamp=lambda day: str(day))
        elif ticker == "BTC-USD":
            _write_lowercase_with_log_return(path, rows)
        elif ticker == SHORT_HISTORY_TICKER:
            _write_history(path, rows.tail(SHORT_HISTORY_DAYS), utc_stamp_of_new_york_midnight)
        elif ticker == SPLIT_TICKER:
            _write_history(path, _with_reverse_split(rows), utc_stamp_of_new_york_midnight)
        elif ticker == PENNY_TICKER:
            penny = rows.assign(**{c: rows[c] / 1000 for c in ("open", "high", "low", "close")})
            _write_history(
                path, penny.assign(adj_close=penny["close"]), utc_stamp_of_new_york_midnight
            )
        else:
            _write_history(path, rows, utc_stamp_of_new_york_midnight)
    return csv_dir


def _write_history(path: Path, rows: pd.DataFrame, stamp) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HISTORY_HEADER)
        for row in rows.itertuples():
            writer.writerow(
                [
                    stamp(row.date.date()),
                    row.open,
                    row.high,
                    row.low,
                    row.close,
                    row.adj_close,
                    row.volume,
                ]
            )


def _write_lowercase_with_log_return(path: Path, rows: pd.DataFrame) -> None:
    log_returns = np.log(rows["close"] / rows["close"].shift(1))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Date", "open", "high", "low", "close", "volume", "Log_Return"])
        for row, log_return in zip(rows.itertuples(), log_returns, strict=True):
            writer.writerow(
                [row.date.date(), row.open, row.high, row.low, row.close, row.volume, log_return]
            )
