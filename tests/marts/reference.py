"""An independent pandas reference of the financial marts, written from their definitions.

The dbt models compute the same metrics in SQL; this module is deliberately written without
looking at them, in the most direct pandas we could think of (clarity over speed), so that a
test comparing the two catches a mistake in either. Every function quotes the definition it
implements.

Conventions used throughout:

* Price basis: every return uses ``adj_close``; the ``close`` column of the miner mart is the
  raw close.
* "Trading days" of a ticker are the dates it has a row.
* A NULL of the marts is NaN (numbers) or NaT (dates) here.
* Prices dated after the requested as-of date R are not visible to any computation.
"""

from __future__ import annotations

import math
from datetime import date
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from orchestration.extract.schema import empty_price_frame, normalize_price_frame
from orchestration.extract.sources.csv_file import PriceFileError, read_price_csv
from orchestration.extract.sources.csv_folder import group_price_files

SEEDS_DIR = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds"

MINER_SEGMENT = "bitcoin_miner"
HYPERSCALER_SEGMENT = "hyperscaler"
OTHER_SEGMENT = "other"
BTC = "BTC-USD"
NVDA = "NVDA"
QQQ = "QQQ"
TERMINATED = "terminated"
TRADING_DAYS_PER_YEAR = 252
# dbt_project.yml's var min_window_coverage (test_reference checks they agree), exact: a window
# is covered when days >= 0.8 x its weekdays, and 0.8 x 260 must be 208, not a float above it.
MIN_WINDOW_COVERAGE = Fraction("0.8")
STALE_AFTER_WEEKDAYS = 5

MINER_COLUMNS = [
    "ticker",
    "is_ai_pivoted",
    "first_ai_contract_date",
    "ai_contract_count",
    "contracted_it_mw",
    "contracted_value_usd",
    "as_of_date",
    "last_price_date",
    "is_stale",
    "close",
    "return_1m",
    "return_3m",
    "return_ytd",
    "return_1y",
    "return_since_first_contract",
    "volatility_1y",
    "max_drawdown_1y",
    "beta_btc_1y",
    "corr_btc_1y",
    "beta_nvda_1y",
    "corr_nvda_1y",
    "excess_return_1y_vs_btc",
    "price_source",
    "window_days_1m",
    "window_days_3m",
    "window_days_ytd",
    "window_days_1y",
    "days_1m",
    "days_3m",
    "days_ytd",
    "days_1y",
    "btc_days_1y",
    "nvda_days_1y",
]
STALE_COLUMNS = [
    "ticker",
    "last_price_date",
    "as_of_date",
    "weekdays_behind",
    "days_behind",
    "message",
]
EVENT_COLUMNS = [
    "contract_id",
    "ticker",
    "event_date",
    "return_day0",
    "car_m1_p1",
    "car_0_p5",
    "car_0_p20",
    "volume_ratio_day0",
]
INDEX_COLUMNS = ["date", "basket", "daily_return", "index_level"]
BASKETS = ["pivoted_miners", "other_miners", "hyperscalers", "nvda", "btc"]

NAN = float("nan")


# --------------------------------------------------------------------------------------------
# Inputs


def load_companies(path: Path | None = None) -> pd.DataFrame:
    """The companies seed (ticker, segment, prices_valid_from as a Timestamp or NaT, ...)."""
    companies = pd.read_csv(path or SEEDS_DIR / "companies.csv", dtype=str, keep_default_na=False)
    valid_from = companies.get("prices_valid_from", pd.Series("", index=companies.index))
    companies["prices_valid_from"] = pd.to_datetime(valid_from.where(valid_from != ""))
    return companies


def load_contracts(path: Path | None = None) -> pd.DataFrame:
    """The AI hosting contracts seed; announced_on a Timestamp, it_mw/value floats (NaN = NULL)."""
    contracts = pd.read_csv(path or SEEDS_DIR / "ai_hosting_contracts.csv", dtype=str)
    contracts["announced_on"] = pd.to_datetime(contracts["announced_on"])
    contracts["it_mw"] = pd.to_numeric(contracts["it_mw"]).astype(float)
    contracts["contract_value_usd"] = pd.to_numeric(contracts["contract_value_usd"]).astype(float)
    return contracts


def apply_valid_from(prices: pd.DataFrame, companies: pd.DataFrame) -> pd.DataFrame:
    """Drop a ticker's rows dated before its companies.prices_valid_from.

    (CORZ before 2024-01-24 and HUT before 2023-12-01 belong to other securities.) Tickers
    with no valid-from date, or not in companies.csv at all, keep every row.
    """
    valid_from = dict(zip(companies["ticker"], companies["prices_valid_from"], strict=True))
    keep = []
    for ticker, day in zip(prices["ticker"], prices["date"], strict=True):
        start = valid_from.get(ticker, pd.NaT)
        keep.append(pd.isna(start) or day >= start)
    return prices[keep].reset_index(drop=True)


def load_ticker_changes(path: Path | None = None) -> pd.DataFrame:
    """The ticker changes seed (old_ticker, new_ticker, effective_date, ...)."""
    return pd.read_csv(path or SEEDS_DIR / "ticker_changes.csv", dtype=str, keep_default_na=False)


def apply_ticker_changes(prices: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """Every row under its company's current ticker.

    A ticker renamed old -> new (possibly several times: A -> B -> C) shows its whole history
    under the last symbol. When files under several of the company's symbols hold the same
    date, the row from the newest symbol is kept.
    """
    renamed = dict(zip(changes["old_ticker"], changes["new_ticker"], strict=True))

    def current_and_age(ticker: str) -> tuple[str, int]:
        age = 0  # how many renames ago the symbol was retired (0 = current)
        while ticker in renamed:
            ticker, age = renamed[ticker], age + 1
        return ticker, age

    resolved = [current_and_age(ticker) for ticker in prices["ticker"]]
    relabelled = prices.assign(
        ticker=[ticker for ticker, _ in resolved], _age=[age for _, age in resolved]
    )
    newest_first = relabelled.sort_values(["ticker", "date", "_age"], kind="stable")
    kept = newest_first.drop_duplicates(["ticker", "date"], keep="first")
    return kept.drop(columns="_age").reset_index(drop=True)


def load_sample_prices(price_dir: Path, companies: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every price file of ``price_dir`` (the product's CSV parser), under the current tickers
    of the ticker changes seed, valid-from filter applied.

    Columns: ticker, date (datetime64 midnight), open, high, low, close, adj_close, volume.
    Raises if any file failed to parse: the reference must see the same data as the product.
    """
    frame, failures = read_price_folder(Path(price_dir))
    if failures:
        raise ValueError(f"price files that did not parse: {failures}")
    frame = frame.assign(ticker=frame["ticker"].astype(str))
    frame = apply_ticker_changes(frame, load_ticker_changes())
    return apply_valid_from(frame, load_companies() if companies is None else companies)


def read_price_folder(price_dir: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every file of the folder through the product's per-file parser (the reference checks
    the marts, not parsing), one by one; a ticker with two files or a bad file is a failure."""
    frames, failures = [], {}
    for ticker, paths in group_price_files(price_dir).items():
        if len(paths) > 1:
            failures[ticker] = f"{len(paths)} files"
            continue
        try:
            frames.append(read_price_csv(paths[0]))
        except PriceFileError as error:
            failures[ticker] = str(error)
    if not frames:
        return empty_price_frame(), failures
    return normalize_price_frame(pd.concat(frames, ignore_index=True)), failures


# --------------------------------------------------------------------------------------------
# Building blocks


def requested_as_of(prices: pd.DataFrame, as_of: date | str | None) -> pd.Timestamp:
    """R: the requested as-of date; default = the max date over all prices."""
    return prices["date"].max() if as_of is None else pd.Timestamp(as_of)


def mart_as_of(prices: pd.DataFrame, requested: pd.Timestamp) -> pd.Timestamp:
    """A: the one as-of date of every mart, R clamped to the latest price date of any ticker."""
    return min(requested, prices["date"].max())


def weekdays_between(start: pd.Timestamp, end: pd.Timestamp) -> int:
    """The weekdays (Monday to Friday, holidays included) d with start < d <= end (numpy's
    business-day count over [start + 1 day, end + 1 day))."""
    one_day = np.timedelta64(1, "D")
    begin = np.datetime64(pd.Timestamp(start).date()) + one_day
    stop = np.datetime64(pd.Timestamp(end).date()) + one_day
    return int(np.busday_count(begin, stop)) if stop > begin else 0


def is_stale(last_price_date: pd.Timestamp, as_of_date: pd.Timestamp) -> bool:
    """A series is stale when more than 5 weekdays lie in (its last price date, A]."""
    return weekdays_between(last_price_date, as_of_date) > STALE_AFTER_WEEKDAYS


def is_covered(days: int, window_days: int, share: Fraction = MIN_WINDOW_COVERAGE) -> bool:
    """A window is covered when its trading days reach ``share`` of its weekdays."""
    return days >= share * window_days


def visible_prices(prices: pd.DataFrame, requested: pd.Timestamp) -> pd.DataFrame:
    """The rows dated on or before R (prices after R are not visible)."""
    return prices[prices["date"] <= requested]


def history(prices: pd.DataFrame, ticker: str) -> pd.DataFrame:
    """One ticker's rows sorted by date, indexed 0..n-1, with its daily_return.

    daily_return(ticker, d) = adj_close(d) / adj_close(previous trading day of that ticker) - 1;
    NULL on its first row.
    """
    rows = prices[prices["ticker"] == ticker].sort_values("date").reset_index(drop=True)
    rows["daily_return"] = rows["adj_close"] / rows["adj_close"].shift(1) - 1
    return rows


def price_on_or_before(rows: pd.DataFrame, day: pd.Timestamp) -> float:
    """P(x): adj_close on the ticker's last trading day on or before x (NaN if none).

    ``rows`` is one ticker's history sorted by date, so the rows on or before x are the first
    ``searchsorted(x, side="right")`` ones.
    """
    count_on_or_before = int(rows["date"].searchsorted(day, side="right"))
    return float(rows["adj_close"].iloc[count_on_or_before - 1]) if count_on_or_before else NAN


def simple_return(end_price: float, start_price: float) -> float:
    """end / start - 1, NaN when either price is NaN."""
    return end_price / start_price - 1


def counting_contracts(contracts: pd.DataFrame, requested: pd.Timestamp) -> pd.DataFrame:
    """Contracts that count: announced_on <= R and status <> 'terminated'."""
    counts = (contracts["announced_on"] <= requested) & (contracts["status"] != TERMINATED)
    return contracts[counts]


def event_date(rows: pd.DataFrame, announced_on: pd.Timestamp) -> pd.Timestamp:
    """A contract's event_date: the miner's first trading day on or after announced_on (or NaT)."""
    after = rows[rows["date"] >= announced_on]
    return after["date"].iloc[0] if len(after) else pd.NaT


def first_contract_event_date(rows: pd.DataFrame, ticker_contracts: pd.DataFrame) -> pd.Timestamp:
    """E: event_date of the ticker's counting contract with the earliest announced_on (or NaT)."""
    if ticker_contracts.empty:
        return pd.NaT
    return event_date(rows, ticker_contracts["announced_on"].min())


def segments(companies: pd.DataFrame) -> dict[str, str]:
    """Ticker -> segment (a ticker not in companies.csv is segment 'other')."""
    return dict(zip(companies["ticker"], companies["segment"], strict=True))


# --------------------------------------------------------------------------------------------
# miner_ai_pivot_performance


def one_year_window(rows: pd.DataFrame, as_of_date: pd.Timestamp) -> pd.DataFrame | None:
    """W: trading days d with A - 1 year < d <= A, or None when the window lacks data.

    A 1-year metric is NULL unless the miner has a trading day on or before A - 1 year
    ("a window that lacks data gives NULL, never a guess").
    """
    start = as_of_date - pd.DateOffset(years=1)
    if math.isnan(price_on_or_before(rows, start)):
        return None
    return rows[(rows["date"] > start) & (rows["date"] <= as_of_date)]


def volatility(window: pd.DataFrame) -> float:
    """volatility_1y = sample std (ddof=1) of daily_return over d in W, x sqrt(252).

    Each return is against the previous trading day, which may lie before the window.
    """
    return float(window["daily_return"].std(ddof=1)) * math.sqrt(TRADING_DAYS_PER_YEAR)


def max_drawdown(window: pd.DataFrame) -> float:
    """max_drawdown_1y = min over d in W of adj_close(d) / max(adj_close(d'), d' in W, d' <= d) - 1.

    The running max is taken within the window only.
    """
    prices = window["adj_close"]
    return float((prices / prices.cummax() - 1).min())


def beta_and_corr(
    rows: pd.DataFrame, window: pd.DataFrame, benchmark: pd.DataFrame
) -> tuple[float, float]:
    """(beta, corr) of the miner's daily returns against benchmark X over W.

    For each d in W with previous miner trading day p: r_m = adj_close(d)/adj_close(p) - 1 and
    r_x = X's adj_close on d itself / PX(p) - 1, PX(x) = X's adj_close on its last trading day
    <= x (BTC's return spans weekends; if X has no price on d, no pair: a benchmark whose prices
    stop gives no returns, not zeros). Pairs where both are non-null are kept; NULL if fewer
    than 3. beta = sample cov(r_m, r_x) / sample var(r_x) (ddof=1 both); corr = Pearson
    correlation (NULL when either side is constant).
    """
    on_day = dict(zip(benchmark["date"], benchmark["adj_close"], strict=True))
    pairs = []
    for position in window.index:
        if position == 0:
            continue  # no previous trading day (cannot happen in a valid window)
        day = rows.loc[position, "date"]
        previous = rows.loc[position - 1, "date"]
        r_m = rows.loc[position, "adj_close"] / rows.loc[position - 1, "adj_close"] - 1
        r_x = on_day.get(day, NAN) / price_on_or_before(benchmark, previous) - 1
        pairs.append((r_m, r_x))
    frame = pd.DataFrame(pairs, columns=["r_m", "r_x"], dtype=float).dropna()
    if len(frame) < 3:
        return NAN, NAN
    covariance = frame["r_m"].cov(frame["r_x"], ddof=1)
    variance = frame["r_x"].var(ddof=1)
    beta = covariance / variance if variance != 0 else NAN
    constant = variance == 0 or frame["r_m"].var(ddof=1) == 0
    corr = NAN if constant else float(frame["r_m"].corr(frame["r_x"]))
    return float(beta), corr


def contract_sum(values: pd.Series) -> float:
    """Sum of the non-null values; 0.0 with no contracts; NULL if every value is null."""
    if values.empty:
        return 0.0
    return float(values.sum(min_count=1))


def miner_performance(
    prices: pd.DataFrame,
    companies: pd.DataFrame,
    contracts: pd.DataFrame,
    as_of: date | str | None = None,
    price_source: str = "csv",
    coverage_share: Fraction = MIN_WINDOW_COVERAGE,
) -> pd.DataFrame:
    """One row per miner (segment bitcoin_miner) of the companies seed. A miner with no
    trading day <= R keeps its contract columns; its price columns are all NULL.

    - A = min(R, the latest price date of any ticker), every row's as_of_date; every window
      ends at A. L = the miner's latest trading date <= A (last_price_date); close = the raw
      close at L; is_stale = more than 5 weekdays in (L, A] (NULL without prices).
    - Windows (start, A]: 1m = A - 1 month, 3m = A - 3 months, ytd = Dec 31 of year(A) - 1,
      1y = A - 1 year (month and year subtraction clamping to month end). window_days_h = the
      weekdays in the window; days_h = the miner's trading days in it; btc_days_1y /
      nvda_days_1y = its trading days in the 1y window on which the benchmark has a row.
      Covered: days >= coverage_share (0.8, MIN_WINDOW_COVERAGE) x window_days.
    - P(x) = adj_close on the last trading day on or before x (NULL if none).
    - return_h = P(A) / P(start_h) - 1, NULL unless days_h covers window h.
    - Counting contracts: announced_on <= R, status <> 'terminated'. ai_contract_count = their
      count; is_ai_pivoted = count > 0; contracted_it_mw / contracted_value_usd = sum of the
      non-null values (0.0 with no contract, NULL if all are null).
    - first_ai_contract_date = min(announced_on); E = event_date of that contract (first
      trading day on or after announced_on). return_since_first_contract = P(A) /
      adj_close(last trading day strictly before E) - 1; NULL if not pivoted, E NULL, no day,
      or the miner is stale.
    - 1-year metrics over W (A - 1 year < d <= A), NULL unless P(A - 1 year) exists and days_1y
      covers the window: volatility_1y, max_drawdown_1y; beta/corr vs BTC-USD (NVDA) also need
      btc_days_1y (nvda_days_1y) coverage. excess_return_1y_vs_btc = return_1y - (PBTC(L) /
      PBTC(D) - 1), D the date of the miner's close P(A - 1 year) refers to; it needs days_1y
      and btc_days_1y coverage.
    """
    requested = requested_as_of(prices, as_of)
    as_of_date = mart_as_of(prices, requested)
    visible = visible_prices(prices, requested)
    counting = counting_contracts(contracts, requested)
    btc = history(visible, BTC)
    nvda = history(visible, NVDA)
    btc_days, nvda_days = set(btc["date"]), set(nvda["date"])
    miners = sorted(t for t, segment in segments(companies).items() if segment == MINER_SEGMENT)

    starts = {
        "1m": as_of_date - pd.DateOffset(months=1),
        "3m": as_of_date - pd.DateOffset(months=3),
        "ytd": pd.Timestamp(year=as_of_date.year - 1, month=12, day=31),
        "1y": as_of_date - pd.DateOffset(years=1),
    }
    window_days = {h: weekdays_between(start, as_of_date) for h, start in starts.items()}

    records = []
    for ticker in miners:
        rows = history(visible, ticker)
        days = {h: int((rows["date"] > start).sum()) for h, start in starts.items()}
        in_year = rows.loc[rows["date"] > starts["1y"], "date"]
        coverage = {
            **{f"window_days_{h}": n for h, n in window_days.items()},
            **{f"days_{h}": n for h, n in days.items()},
            "btc_days_1y": int(in_year.isin(btc_days).sum()),
            "nvda_days_1y": int(in_year.isin(nvda_days).sum()),
        }
        if rows.empty:
            records.append(
                contract_columns_only(ticker, counting) | coverage | {"as_of_date": as_of_date}
            )
            continue
        covered = {h: is_covered(days[h], window_days[h], coverage_share) for h in starts}
        btc_covered = is_covered(coverage["btc_days_1y"], window_days["1y"], coverage_share)
        nvda_covered = is_covered(coverage["nvda_days_1y"], window_days["1y"], coverage_share)
        last_price_date = rows["date"].iloc[-1]
        stale = is_stale(last_price_date, as_of_date)
        latest = float(rows["adj_close"].iloc[-1])
        returns = {
            h: simple_return(latest, price_on_or_before(rows, start)) if covered[h] else NAN
            for h, start in starts.items()
        }

        mine = counting[counting["ticker"] == ticker]
        count = len(mine)
        first_date = mine["announced_on"].min() if count else pd.NaT
        since_first = NAN
        if count and not stale:
            first_event = first_contract_event_date(rows, mine)
            before = rows[rows["date"] < first_event] if pd.notna(first_event) else rows.iloc[:0]
            if len(before):
                since_first = simple_return(latest, float(before["adj_close"].iloc[-1]))

        window = one_year_window(rows, as_of_date)
        vol = drawdown = beta_btc = corr_btc = beta_nvda = corr_nvda = excess = NAN
        if window is not None and covered["1y"]:
            vol = volatility(window)
            drawdown = max_drawdown(window)
            if btc_covered:
                beta_btc, corr_btc = beta_and_corr(rows, window, btc)
            if nvda_covered:
                beta_nvda, corr_nvda = beta_and_corr(rows, window, nvda)
        if covered["1y"] and btc_covered:
            year_ago_rows = rows[rows["date"] <= starts["1y"]]
            if len(year_ago_rows):
                reference_day = year_ago_rows["date"].iloc[-1]
                btc_1y = simple_return(
                    price_on_or_before(btc, last_price_date),
                    price_on_or_before(btc, reference_day),
                )
                excess = returns["1y"] - btc_1y

        records.append(
            {
                "ticker": ticker,
                "is_ai_pivoted": count > 0,
                "first_ai_contract_date": first_date,
                "ai_contract_count": count,
                "contracted_it_mw": contract_sum(mine["it_mw"]),
                "contracted_value_usd": contract_sum(mine["contract_value_usd"]),
                "as_of_date": as_of_date,
                "last_price_date": last_price_date,
                "is_stale": stale,
                "close": float(rows["close"].iloc[-1]),
                "return_1m": returns["1m"],
                "return_3m": returns["3m"],
                "return_ytd": returns["ytd"],
                "return_1y": returns["1y"],
                "return_since_first_contract": since_first,
                "volatility_1y": vol,
                "max_drawdown_1y": drawdown,
                "beta_btc_1y": beta_btc,
                "corr_btc_1y": corr_btc,
                "beta_nvda_1y": beta_nvda,
                "corr_nvda_1y": corr_nvda,
                "excess_return_1y_vs_btc": excess,
                "price_source": price_source,
                **coverage,
            }
        )
    result = pd.DataFrame.from_records(records, columns=MINER_COLUMNS)
    result["is_ai_pivoted"] = result["is_ai_pivoted"].astype(bool)
    for column in ("first_ai_contract_date", "as_of_date", "last_price_date"):
        result[column] = pd.to_datetime(result[column])
    return result


def contract_columns_only(ticker: str, counting: pd.DataFrame) -> dict[str, object]:
    """The row of a miner without prices: its contracts, and NULL for every price metric."""
    mine = counting[counting["ticker"] == ticker]
    row: dict[str, object] = dict.fromkeys(MINER_COLUMNS, NAN)
    row.update(
        ticker=ticker,
        is_ai_pivoted=len(mine) > 0,
        first_ai_contract_date=mine["announced_on"].min() if len(mine) else pd.NaT,
        ai_contract_count=len(mine),
        contracted_it_mw=contract_sum(mine["it_mw"]),
        contracted_value_usd=contract_sum(mine["contract_value_usd"]),
        as_of_date=pd.NaT,
        last_price_date=pd.NaT,
        is_stale=None,
        price_source=None,
    )
    return row


# --------------------------------------------------------------------------------------------
# stale_series


def stale_series(
    prices: pd.DataFrame,
    companies: pd.DataFrame,
    as_of: date | str | None = None,
    abnormal_return_benchmark: str = QQQ,
) -> pd.DataFrame:
    """One row per curated series (tickers of companies.csv, BTC-USD, NVDA and the
    abnormal-return benchmark) with a price on or before A whose last one, L, is more than 5
    weekdays before A: weekdays_behind = weekdays in (L, A], days_behind = A - L in calendar
    days, message = "<ticker>: last price <L>, <days> days before the as-of <A>"."""
    requested = requested_as_of(prices, as_of)
    as_of_date = mart_as_of(prices, requested)
    visible = visible_prices(prices, requested)
    curated = set(companies["ticker"]) | {BTC, NVDA, abnormal_return_benchmark}
    records = []
    for ticker in sorted(curated):
        rows = visible[visible["ticker"] == ticker]
        if rows.empty:
            continue
        last = rows["date"].max()
        if not is_stale(last, as_of_date):
            continue
        behind = (as_of_date - last).days
        records.append(
            {
                "ticker": ticker,
                "last_price_date": last,
                "as_of_date": as_of_date,
                "weekdays_behind": weekdays_between(last, as_of_date),
                "days_behind": behind,
                "message": (
                    f"{ticker}: last price {last:%Y-%m-%d}, {behind} days before the as-of "
                    f"{as_of_date:%Y-%m-%d}"
                ),
            }
        )
    result = pd.DataFrame.from_records(records, columns=STALE_COLUMNS)
    for column in ("last_price_date", "as_of_date"):
        result[column] = pd.to_datetime(result[column])
    return result


# --------------------------------------------------------------------------------------------
# fct_contract_announcement_returns


def cumulative_abnormal_return(abnormal: pd.Series, first: int, last: int) -> float:
    """sum AR(i) for i in first..last; NULL if an index is out of range (< 1 or > n-1) or a
    term is NULL."""
    if first < 1 or last > len(abnormal) - 1:
        return NAN
    terms = abnormal.loc[first:last]
    return NAN if terms.isna().any() else float(terms.sum())


def contract_announcement_returns(
    prices: pd.DataFrame,
    contracts: pd.DataFrame,
    as_of: date | str | None = None,
    benchmark: str = QQQ,
) -> pd.DataFrame:
    """One row per counting contract (announced_on <= R, status <> 'terminated'), vs QQQ.

    - The miner's trading days (only those <= A, its as-of date: prices after R are not
      visible) are indexed 0..n-1; e = index of event_date (first trading day >= announced_on).
    - r_m(i) = adj(i)/adj(i-1) - 1; r_q(i) = PQ(date_i)/PQ(date_{i-1}) - 1, PQ = QQQ's last
      adj_close <= date; AR(i) = r_m(i) - r_q(i).
    - return_day0 = r_m(e); car_m1_p1 = sum AR(e-1..e+1); car_0_p5 = sum AR(e..e+5);
      car_0_p20 = sum AR(e..e+20). NULL when an index is out of range (< 1 or > n-1) or a
      term is NULL.
    - volume_ratio_day0 = volume(e) / mean(volume(e-20..e-1)); NULL with fewer than 20 prior
      trading days or a mean of 0/NULL.

    A counting contract whose miner has no visible trading day on or after announced_on still
    gets a row, with every metric NULL.
    """
    requested = requested_as_of(prices, as_of)
    visible = visible_prices(prices, requested)
    quotes = history(visible, benchmark)

    records = []
    counting = counting_contracts(contracts, requested).sort_values("contract_id")
    for contract in counting.itertuples(index=False):
        rows = history(visible, contract.ticker)
        day = event_date(rows, contract.announced_on)
        record = {
            "contract_id": contract.contract_id,
            "ticker": contract.ticker,
            "event_date": day,
            "return_day0": NAN,
            "car_m1_p1": NAN,
            "car_0_p5": NAN,
            "car_0_p20": NAN,
            "volume_ratio_day0": NAN,
        }
        if pd.notna(day):
            e = int(rows.index[rows["date"] == day][0])
            r_m = rows["daily_return"]
            q_prices = pd.Series([price_on_or_before(quotes, d) for d in rows["date"]])
            r_q = q_prices / q_prices.shift(1) - 1
            abnormal = r_m - r_q
            record["return_day0"] = float(r_m.loc[e]) if e >= 1 else NAN
            record["car_m1_p1"] = cumulative_abnormal_return(abnormal, e - 1, e + 1)
            record["car_0_p5"] = cumulative_abnormal_return(abnormal, e, e + 5)
            record["car_0_p20"] = cumulative_abnormal_return(abnormal, e, e + 20)
            if e >= 20:
                prior_mean = rows["volume"].loc[e - 20 : e - 1].mean()
                if pd.notna(prior_mean) and prior_mean != 0:
                    record["volume_ratio_day0"] = float(rows["volume"].loc[e] / prior_mean)
        records.append(record)
    result = pd.DataFrame.from_records(records, columns=EVENT_COLUMNS)
    result["event_date"] = pd.to_datetime(result["event_date"])
    return result


# --------------------------------------------------------------------------------------------
# miner_pivot_index_daily


def pivot_index_daily(
    prices: pd.DataFrame,
    companies: pd.DataFrame,
    contracts: pd.DataFrame,
    as_of: date | str | None = None,
) -> pd.DataFrame:
    """Equal-weighted daily basket returns and a base-100 index, dates <= R.

    - Baskets: pivoted_miners, other_miners, hyperscalers (segment hyperscaler), nvda (NVDA),
      btc (BTC-USD).
    - A miner's daily returns count in pivoted_miners on its trading days d > E (E = event date
      of its first counting contract; the event-day return is not captured); on d <= E, and
      always if it never pivoted (or E is NULL), they count in other_miners.
    - basket daily_return(d) = mean of the non-null daily_returns of its members that traded
      on d; rows only for dates with >= 1 member return.
    - F = the earliest date on which all 5 baskets have a row. index_level(F) = 100, then
      index_level(d) = index_level(previous row of that basket) x (1 + daily_return(d)). Only
      rows with date >= F.
    """
    requested = requested_as_of(prices, as_of)
    visible = visible_prices(prices, requested)
    counting = counting_contracts(contracts, requested)
    segment_of = segments(companies)

    members = []  # (date, basket, daily_return) of every member return
    for ticker in sorted(visible["ticker"].unique()):
        rows = history(visible, ticker)
        segment = segment_of.get(ticker, OTHER_SEGMENT)
        if segment == MINER_SEGMENT:
            first_event = first_contract_event_date(rows, counting[counting["ticker"] == ticker])
            for day, value in zip(rows["date"], rows["daily_return"], strict=True):
                pivoted = pd.notna(first_event) and day > first_event
                members.append((day, "pivoted_miners" if pivoted else "other_miners", value))
        other_baskets = [
            basket
            for basket, member in (
                ("hyperscalers", segment == HYPERSCALER_SEGMENT),
                ("nvda", ticker == NVDA),
                ("btc", ticker == BTC),
            )
            if member
        ]
        for basket in other_baskets:
            for day, value in zip(rows["date"], rows["daily_return"], strict=True):
                members.append((day, basket, value))

    returns = pd.DataFrame(members, columns=["date", "basket", "daily_return"])
    returns = returns.dropna(subset=["daily_return"])
    baskets = returns.groupby(["date", "basket"], as_index=False)["daily_return"].mean()

    baskets_per_day = baskets.groupby("date")["basket"].nunique()
    complete_days = baskets_per_day[baskets_per_day == len(BASKETS)].index
    if len(complete_days) == 0:
        return pd.DataFrame(columns=INDEX_COLUMNS)
    first_common = complete_days.min()

    frames = []
    for basket in BASKETS:
        rows = baskets[(baskets["basket"] == basket) & (baskets["date"] >= first_common)]
        rows = rows.sort_values("date").reset_index(drop=True)
        levels = []
        for value in rows["daily_return"]:
            levels.append(100.0 if not levels else levels[-1] * (1 + value))
        frames.append(rows.assign(index_level=np.array(levels, dtype=float)))
    result = pd.concat(frames, ignore_index=True)[INDEX_COLUMNS]
    return result.sort_values(["date", "basket"]).reset_index(drop=True)
