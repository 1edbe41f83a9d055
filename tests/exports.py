"""Price exports the tests write themselves, in the shapes and with the quirks of the real
exports in ../shared/data/sample_prices: the twin of those files for a clone without ../shared
beside it (the GitHub workflow), so every test that reads the real files also runs on these.

Quirks carried over from the real files:
- equities in yfinance's ``history()`` shape with the exchange-local midnight as a UTC stamp,
  switching between 04:00 and 05:00 with daylight saving time;
- BTC-USD seven days a week, with lower-case names and an extra ``Log_Return`` column;
- a very short history (CRWV, a few days after its listing) and a long one;
- prices before a company's ``prices_valid_from`` (CORZ, HUT: another security), no equity
  row on exchange holidays, no file for GLXY and KEEL under its old symbol BITF (these in
  ``write_sample_like_exports`` only);
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


# The NYSE/Nasdaq full-day closures of 2023 to April 2025 (weekdays without trading): the real
# equity files have no row on them, the generated ones do until drop_exchange_holidays.
EXCHANGE_HOLIDAYS = frozenset(
    date.fromisoformat(day)
    for day in (
        "2023-01-02",
        "2023-01-16",
        "2023-02-20",
        "2023-04-07",
        "2023-05-29",
        "2023-06-19",
        "2023-07-04",
        "2023-09-04",
        "2023-11-23",
        "2023-12-25",
        "2024-01-01",
        "2024-01-15",
        "2024-02-19",
        "2024-03-29",
        "2024-05-27",
        "2024-06-19",
        "2024-07-04",
        "2024-09-02",
        "2024-11-28",
        "2024-12-25",
        "2025-01-01",
        "2025-01-09",
        "2025-01-20",
        "2025-02-17",
        "2025-04-18",
    )
)
# What the real sample folder holds that a file per curated ticker does not.
SAMPLE_MISSING_TICKER = "GLXY"  # in the seed, no file in the sample folder
SAMPLE_OLD_SYMBOLS = {"KEEL": "BITF"}  # the sample file is under the old symbol (ticker_changes)
# Prices before prices_valid_from belong to another security: the generated ones are scaled so
# they are plainly not the company's. CORZ's jump at the boundary (about 20x) stays under the
# audit's 100x one-day bound, like the real sample's (46x).
OTHER_SECURITY_SCALE = {"CORZ": 0.05, "HUT": 3.0}


def write_sample_like_exports(csv_dir: Path, *, first_day: date, last_day: date) -> Path:
    """Generated exports laid out like the real sample folder, for the twins of the tests that
    check facts only real data has: no equity row on exchange holidays, no file for GLXY, KEEL
    under its old symbol BITF, and CORZ and HUT rows of another security before their
    ``prices_valid_from``. ``first_day`` must be before those dates (it is checked)."""
    write_generated_exports(csv_dir, first_day=first_day, last_day=last_day)
    for path in sorted(csv_dir.glob("*.csv")):
        if path.stem != "BTC-USD":
            drop_exchange_holidays(path)
    (csv_dir / f"{SAMPLE_MISSING_TICKER}.csv").unlink()
    for current, old in SAMPLE_OLD_SYMBOLS.items():
        (csv_dir / f"{current}.csv").rename(csv_dir / f"{old}.csv")
    valid_from = prices_valid_from_of_the_seed()
    for ticker, scale in OTHER_SECURITY_SCALE.items():
        scale_rows_before(csv_dir / f"{ticker}.csv", valid_from[ticker], scale)
    return csv_dir


def prices_valid_from_of_the_seed() -> dict[str, date]:
    with COMPANIES_SEED.open(newline="") as handle:
        return {
            row["ticker"]: date.fromisoformat(row["prices_valid_from"])
            for row in csv.DictReader(handle)
            if row["prices_valid_from"]
        }


def _rewrite_rows(path: Path, change) -> None:
    """Rewrite a history-shape file through ``change(row) -> row or None`` (None drops it)."""
    with path.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    kept = [changed for row in rows if (changed := change(row)) is not None]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(kept)


def _trading_date(row: list[str]) -> date:
    # The stamps are the New York midnight in UTC (04:00 or 05:00): the first 10 characters
    # are the New York date.
    return date.fromisoformat(row[0][:10])


def drop_exchange_holidays(path: Path) -> None:
    _rewrite_rows(path, lambda row: None if _trading_date(row) in EXCHANGE_HOLIDAYS else row)


def scale_rows_before(path: Path, day: date, scale: float) -> None:
    """Open, High, Low, Close and Adj Close of the rows dated before ``day`` times ``scale``:
    another security's prices, with a jump at ``day``. Raises if no row is before ``day``."""
    with path.open(newline="") as handle:
        header = next(csv.reader(handle))
    if header != HISTORY_HEADER:
        raise ValueError(f"{path}: expected the {HISTORY_HEADER} header, found {header}")
    scaled = [header.index(name) for name in ("Open", "High", "Low", "Close", "Adj Close")]
    before = 0

    def change(row: list[str]) -> list[str]:
        nonlocal before
        if _trading_date(row) >= day:
            return row
        before += 1
        return [str(float(cell) * scale) if i in scaled else cell for i, cell in enumerate(row)]

    _rewrite_rows(path, change)
    if not before:
        raise ValueError(f"{path} has no row before {day}: start the exports earlier")
