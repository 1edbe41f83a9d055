"""Known-answer tests of the pandas reference of the marts, so the reference can be trusted.

Each tiny frame below is small enough to compute every expected value by hand; the comments
show the arithmetic.
"""

from __future__ import annotations

import csv
import itertools
import math
import statistics
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.exports import write_sample_like_exports
from tests.marts import reference as ref
from tests.marts.compare import compare_frames, describe_differences

SAMPLE_PRICES_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "sample_prices"


def prices_of(ticker: str, adj: dict[str, float], **columns: dict[str, float]) -> pd.DataFrame:
    """A price frame for one ticker: date -> adj_close; close = adj_close unless given."""
    days = list(adj)
    frame = pd.DataFrame(
        {
            "ticker": ticker,
            "date": pd.to_datetime(days),
            "adj_close": [float(adj[d]) for d in days],
        }
    )
    for column in ("open", "high", "low", "close", "volume"):
        values = columns.get(column)
        if values is not None:
            frame[column] = [float(values[d]) for d in days]
        elif column == "close":
            frame[column] = frame["adj_close"]
        else:
            frame[column] = np.nan
    return frame[["ticker", "date", "open", "high", "low", "close", "adj_close", "volume"]]


def companies_of(**segment_by_ticker: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": list(segment_by_ticker),
            "segment": list(segment_by_ticker.values()),
            "prices_valid_from": pd.NaT,
        }
    )


def contracts_of(*rows: tuple) -> pd.DataFrame:
    """Rows of (contract_id, ticker, announced_on, it_mw, contract_value_usd, status)."""
    frame = pd.DataFrame(
        rows,
        columns=["contract_id", "ticker", "announced_on", "it_mw", "contract_value_usd", "status"],
    )
    frame["announced_on"] = pd.to_datetime(frame["announced_on"])
    frame["it_mw"] = frame["it_mw"].astype(float)
    frame["contract_value_usd"] = frame["contract_value_usd"].astype(float)
    return frame


NO_CONTRACTS = contracts_of()


def row_of(frame: pd.DataFrame, column: str, value: str) -> pd.Series:
    (index,) = frame.index[frame[column] == value]
    return frame.loc[index]


# --------------------------------------------------------------------------------------------
# Inputs


def test_valid_from_drops_earlier_rows_of_that_ticker_only() -> None:
    prices = pd.concat(
        [
            prices_of("CORZ", {"2024-01-23": 1.0, "2024-01-24": 2.0, "2024-01-25": 3.0}),
            prices_of("IREN", {"2024-01-23": 5.0, "2024-01-24": 6.0}),
            prices_of("ZZZZ", {"2024-01-23": 7.0}),  # not in companies.csv: kept
        ]
    )
    companies = companies_of(CORZ="bitcoin_miner", IREN="bitcoin_miner")
    companies.loc[companies["ticker"] == "CORZ", "prices_valid_from"] = pd.Timestamp("2024-01-24")
    kept = ref.apply_valid_from(prices, companies)
    assert list(zip(kept["ticker"], kept["date"].dt.strftime("%Y-%m-%d"), strict=True)) == [
        ("CORZ", "2024-01-24"),
        ("CORZ", "2024-01-25"),
        ("IREN", "2024-01-23"),
        ("IREN", "2024-01-24"),
        ("ZZZZ", "2024-01-23"),
    ]
    # The first surviving CORZ row has no previous trading day: its daily return is NULL.
    corz = ref.history(kept, "CORZ")
    assert math.isnan(corz["daily_return"].iloc[0])
    assert corz["daily_return"].iloc[1] == pytest.approx(0.5)


# --------------------------------------------------------------------------------------------
# miner_ai_pivot_performance: the 1-year window metrics


def one_year_prices() -> pd.DataFrame:
    """MIN, THIN and SHORT miners, BTC-USD (7 days a week) and a sparse NVDA; A = 2024-12-31.

    A - 1 year = 2023-12-31, so W = trading days in (2023-12-31, 2024-12-31].
    MIN: 300 on 2023-12-28 (a high before W, must not enter the drawdown), 100 on 2023-12-29
    (P(A - 1 year)), then in W: 110, 99, 108.9, 103.455 = returns +10%, -10%, +10%, -5%.
    """
    return pd.concat(
        [
            prices_of(
                "MIN",
                {
                    "2023-12-28": 300,
                    "2023-12-29": 100,
                    "2024-12-26": 110,
                    "2024-12-27": 99,
                    "2024-12-30": 108.9,
                    "2024-12-31": 103.455,
                },
            ),
            # Two returns in W (+10%, +10%): a volatility of 0 but only 2 beta pairs.
            prices_of("THIN", {"2023-12-29": 10, "2024-12-30": 11, "2024-12-31": 12.1}),
            # No trading day on or before A - 1 year: every 1-year metric is NULL.
            prices_of("SHORT", {"2024-01-02": 10, "2024-12-02": 12, "2024-12-31": 15}),
            prices_of(
                "BTC-USD",
                {
                    "2023-12-29": 40000,
                    "2023-12-31": 42000,  # PBTC(A - 1 year)
                    "2024-12-26": 41600,  # +4% vs 2023-12-29
                    "2024-12-27": 40768,  # -2%
                    "2024-12-28": 50000,  # weekend noise, skipped by the miner's returns
                    "2024-12-29": 30000,
                    "2024-12-30": 41583.36,  # +2% vs 2024-12-27 (spans the weekend)
                    "2024-12-31": 41583.36,  # 0%
                },
            ),
            prices_of("NVDA", {"2024-12-26": 100, "2024-12-31": 103}),
        ],
        ignore_index=True,
    )


def test_one_year_metrics_by_hand() -> None:
    companies = companies_of(
        MIN="bitcoin_miner",
        THIN="bitcoin_miner",
        SHORT="bitcoin_miner",
        NVDA="ai_infrastructure",
        **{"BTC-USD": "crypto"},
    )
    # The formulas on a handful of days: the coverage rule has tests of its own.
    table = ref.miner_performance(one_year_prices(), companies, NO_CONTRACTS, coverage_share=0)
    assert list(table.columns) == ref.MINER_COLUMNS
    assert sorted(table["ticker"]) == ["MIN", "SHORT", "THIN"]  # BTC and NVDA are no miners
    row = row_of(table, "ticker", "MIN")

    assert row["as_of_date"] == pd.Timestamp("2024-12-31")
    # return_1y = 103.455 / 100 - 1
    assert row["return_1y"] == pytest.approx(0.03455, rel=1e-12)
    # r_m = [0.1, -0.1, 0.1, -0.05], mean 0.0125, deviations 0.0875, -0.1125, 0.0875, -0.0625,
    # squares sum to 0.031875; sample var = 0.031875 / 3 = 0.010625.
    assert row["volatility_1y"] == pytest.approx(math.sqrt(0.010625) * math.sqrt(252), rel=1e-12)
    # Running max within W is 110 (the 300 before W is ignored): worst 99 / 110 - 1 = -0.1.
    assert row["max_drawdown_1y"] == pytest.approx(-0.1, rel=1e-12)
    # r_btc = [0.04, -0.02, 0.02, 0.0] (the 3rd spans the weekend: 41583.36 / 40768 - 1).
    # mean 0.01, deviations 0.03, -0.03, 0.01, -0.01: sample var = 0.002 / 3.
    # cross products 0.0875*0.03 + 0.1125*0.03 + 0.0875*0.01 + 0.0625*0.01 = 0.0075:
    # sample cov = 0.0075 / 3; beta = 0.0025 / (0.002 / 3) = 3.75.
    assert row["beta_btc_1y"] == pytest.approx(3.75, rel=1e-9)
    assert row["corr_btc_1y"] == pytest.approx(0.0075 / math.sqrt(0.031875 * 0.002), rel=1e-9)
    # NVDA trades on 12-26 and 12-31 only. A pair needs NVDA's price on the miner's day itself:
    # 2024-12-26 has one but no NVDA price on or before the previous day 2023-12-29; 12-27 and
    # 12-30 have none (no pair, not a zero return); 12-31: 103 / 100 - 1. One pair: NULL.
    assert math.isnan(row["beta_nvda_1y"])
    assert math.isnan(row["corr_nvda_1y"])
    assert row["nvda_days_1y"] == 2
    assert row["btc_days_1y"] == row["days_1y"] == 4
    # BTC between MIN's own two dates: its close on or before MIN's reference close date
    # 2023-12-29 (40000, not 42000 on 2023-12-31) and on or before 2024-12-31.
    assert row["excess_return_1y_vs_btc"] == pytest.approx(
        0.03455 - (41583.36 / 40000 - 1), rel=1e-12
    )

    thin = row_of(table, "ticker", "THIN")
    assert thin["volatility_1y"] == pytest.approx(0.0, abs=1e-12)
    assert thin["max_drawdown_1y"] == 0.0
    for column in ("beta_btc_1y", "corr_btc_1y", "beta_nvda_1y", "corr_nvda_1y"):
        assert math.isnan(thin[column]), column  # fewer than 3 pairs

    short = row_of(table, "ticker", "SHORT")
    # P(A - 1 month) = P(2024-11-30) = 10 (2024-12-02 is after it): 15 / 10 - 1.
    assert short["return_1m"] == pytest.approx(0.5)
    for column in (
        "return_1y",
        "volatility_1y",
        "max_drawdown_1y",
        "beta_btc_1y",
        "corr_btc_1y",
        "beta_nvda_1y",
        "corr_nvda_1y",
        "excess_return_1y_vs_btc",
    ):
        assert math.isnan(short[column]), column


# --------------------------------------------------------------------------------------------
# miner_ai_pivot_performance: point returns, as-of dates, raw close


def test_point_returns_clamp_to_month_end_and_ignore_prices_after_r() -> None:
    adj = {
        "2024-03-28": 50,  # P(2024-03-31) = P(A - 1 year)
        "2024-12-30": 70,
        "2024-12-31": 80,  # P(A - 3 months) = P(Dec 31 of last year)
        "2025-02-27": 90,
        "2025-02-28": 100,  # P(2025-03-31 - 1 month = 2025-02-28)
        "2025-03-03": 95,  # what a non-clamping "2025-03-03" would pick up: not used
        "2025-03-31": 110,  # A: the last trading day <= R = 2025-04-01
        "2025-04-02": 500,  # after R: invisible
    }
    close = {day: 2 * value for day, value in adj.items()}
    prices = prices_of("Y", adj, close=close)
    table = ref.miner_performance(
        prices, companies_of(Y="bitcoin_miner"), NO_CONTRACTS, "2025-04-01", coverage_share=0
    )
    row = row_of(table, "ticker", "Y")
    assert row["as_of_date"] == pd.Timestamp("2025-04-01")  # R, before the last price
    assert row["last_price_date"] == pd.Timestamp("2025-03-31")
    assert row["close"] == 220.0  # the raw close at A, not adj_close
    assert row["return_1m"] == pytest.approx(110 / 100 - 1)
    assert row["return_3m"] == pytest.approx(110 / 80 - 1)
    assert row["return_ytd"] == pytest.approx(110 / 80 - 1)
    assert row["return_1y"] == pytest.approx(110 / 50 - 1)
    assert row["price_source"] == "csv"


def test_default_as_of_is_the_latest_price_of_any_ticker() -> None:
    prices = pd.concat(
        [
            prices_of("Y", {"2025-01-02": 1.0, "2025-01-03": 2.0}),
            prices_of("BTC-USD", {"2025-01-05": 9.0}),
        ]
    )
    table = ref.miner_performance(prices, companies_of(Y="bitcoin_miner"), NO_CONTRACTS)
    assert ref.requested_as_of(prices, None) == pd.Timestamp("2025-01-05")
    # One as-of date for every row: BTC's Sunday; Y's Friday price is not stale.
    assert table["as_of_date"].tolist() == [pd.Timestamp("2025-01-05")]
    assert table["last_price_date"].tolist() == [pd.Timestamp("2025-01-03")]
    assert table["is_stale"].tolist() == [False]


# --------------------------------------------------------------------------------------------
# miner_ai_pivot_performance: contracts


def test_contract_columns_and_return_since_first_contract() -> None:
    prices = pd.concat(
        [
            # M1: contract announced Saturday 2024-06-01, so E = Monday 2024-06-03; the last
            # day strictly before E is Friday 2024-05-31 (20): since first = 30 / 20 - 1.
            prices_of(
                "M1", {"2024-05-30": 10, "2024-05-31": 20, "2024-06-03": 25, "2024-06-14": 30}
            ),
            # M2: announced 2024-06-04, E = 2024-06-14, day before = 2024-06-03 (8): 10/8 - 1.
            prices_of("M2", {"2024-06-03": 8, "2024-06-14": 10}),
            # M3: no contract at all.
            prices_of("M3", {"2024-06-14": 1}),
            # M4: E is its first trading day, so nothing before E: NULL.
            prices_of("M4", {"2024-06-03": 4, "2024-06-14": 5}),
        ]
    )
    contracts = contracts_of(
        ("c1", "M1", "2024-06-01", 100, 1e9, "active"),
        ("c2", "M1", "2024-06-10", None, 2e9, "announced"),  # counts: only terminated does not
        ("c3", "M1", "2024-05-01", 999, 9e9, "terminated"),  # never counts
        ("c4", "M1", "2024-06-15", 999, 9e9, "active"),  # after R: does not count yet
        ("c5", "M2", "2024-06-04", 50, None, "active"),  # value unknown: sum is NULL
        ("c6", "M4", "2024-06-01", None, None, "active"),
    )
    companies = companies_of(
        M1="bitcoin_miner", M2="bitcoin_miner", M3="bitcoin_miner", M4="bitcoin_miner"
    )
    table = ref.miner_performance(prices, companies, contracts, "2024-06-14")

    m1 = row_of(table, "ticker", "M1")
    assert m1["is_ai_pivoted"]
    assert m1["ai_contract_count"] == 2
    assert m1["first_ai_contract_date"] == pd.Timestamp("2024-06-01")  # announcement, not event
    assert m1["contracted_it_mw"] == 100.0  # NULL it_mw of c2 skipped
    assert m1["contracted_value_usd"] == 3e9
    assert m1["return_since_first_contract"] == pytest.approx(0.5)

    m2 = row_of(table, "ticker", "M2")
    assert m2["ai_contract_count"] == 1
    assert m2["contracted_it_mw"] == 50.0
    assert math.isnan(m2["contracted_value_usd"])
    assert m2["return_since_first_contract"] == pytest.approx(0.25)

    m3 = row_of(table, "ticker", "M3")
    assert not m3["is_ai_pivoted"]
    assert m3["ai_contract_count"] == 0
    assert pd.isna(m3["first_ai_contract_date"])
    assert m3["contracted_it_mw"] == 0.0
    assert m3["contracted_value_usd"] == 0.0
    assert math.isnan(m3["return_since_first_contract"])

    m4 = row_of(table, "ticker", "M4")
    assert m4["is_ai_pivoted"]
    assert math.isnan(m4["contracted_it_mw"])  # a contract, but every it_mw is NULL
    assert math.isnan(m4["return_since_first_contract"])

    # With R before c1, M1 has no counting contract.
    earlier = ref.miner_performance(prices, companies, contracts, "2024-05-31")
    assert row_of(earlier, "ticker", "M1")["ai_contract_count"] == 0


# --------------------------------------------------------------------------------------------
# fct_contract_announcement_returns


def event_study_prices() -> tuple[pd.DataFrame, list[pd.Timestamp]]:
    """EV: 40 weekdays from 2024-01-01, of which 30 (index 0..29) are visible at R.

    r_m(i) = 1% except r_m(22) = 10% and r_m(23) = -2%. QQQ: r_q = 0.5% except r_q(22) = 2%,
    and QQQ has no row on day 25, so r_q(25) = 0 and r_q(26) = 1.005^2 - 1 = 0.010025.
    So AR = 0.5% on ordinary days, AR(22) = 8%, AR(23) = -2.5%, AR(25) = 1%, AR(26) = -0.0025%.
    Volume: 1e6 on days 0-1 (outside every 20-day window used), 100 otherwise, 300 on day 22.
    """
    days = list(pd.bdate_range("2024-01-01", periods=40))
    r_m = [0.01] * 40
    r_m[22], r_m[23] = 0.10, -0.02
    r_q = [0.005] * 40
    r_q[22] = 0.02
    miner = [100.0]
    quotes = [300.0]
    for i in range(1, 40):
        miner.append(miner[-1] * (1 + r_m[i]))
        quotes.append(quotes[-1] * (1 + r_q[i]))
    volume = [1e6, 1e6] + [100.0] * 38
    volume[22] = 300.0
    day_text = [d.strftime("%Y-%m-%d") for d in days]
    ev = prices_of(
        "EV",
        dict(zip(day_text, miner, strict=True)),
        volume=dict(zip(day_text, volume, strict=True)),
    )
    qqq = prices_of(
        "QQQ", {d: q for i, (d, q) in enumerate(zip(day_text, quotes, strict=True)) if i != 25}
    )
    return pd.concat([ev, qqq], ignore_index=True), days


def test_event_study_by_hand() -> None:
    prices, days = event_study_prices()
    requested = days[29] + pd.Timedelta(days=1)  # Saturday after the last visible day
    contracts = contracts_of(
        ("e22", "EV", days[22], None, None, "active"),
        ("e01", "EV", days[1], None, None, "active"),
        ("e00", "EV", days[0] - pd.Timedelta(days=3), None, None, "active"),  # -> day 0
        ("e27", "EV", days[27], None, None, "announced"),
        ("late", "EV", requested, None, None, "active"),  # no visible trading day after it
        ("gone", "EV", days[5], None, None, "terminated"),
        ("future", "EV", days[35], None, None, "active"),  # after R
    )
    table = ref.contract_announcement_returns(prices, contracts, requested)
    assert list(table.columns) == ref.EVENT_COLUMNS
    assert sorted(table["contract_id"]) == ["e00", "e01", "e22", "e27", "late"]

    e22 = row_of(table, "contract_id", "e22")
    assert e22["event_date"] == days[22]
    assert e22["return_day0"] == pytest.approx(0.10, rel=1e-12)
    # AR(21) + AR(22) + AR(23) = 0.005 + 0.08 - 0.025
    assert e22["car_m1_p1"] == pytest.approx(0.06, rel=1e-9)
    # AR(22..27) = 0.08 - 0.025 + 0.005 + 0.01 + (0.01 - 0.010025) + 0.005
    assert e22["car_0_p5"] == pytest.approx(0.074975, rel=1e-9)
    # e + 20 = 42 > n - 1 = 29 (days 30..39 exist in the frame but are after R)
    assert math.isnan(e22["car_0_p20"])
    # 300 / mean(volume of days 2..21) = 300 / 100
    assert e22["volume_ratio_day0"] == pytest.approx(3.0)

    e01 = row_of(table, "contract_id", "e01")
    assert e01["return_day0"] == pytest.approx(0.01)
    assert math.isnan(e01["car_m1_p1"])  # needs AR(0), which needs a day -1
    assert e01["car_0_p5"] == pytest.approx(6 * 0.005, rel=1e-9)
    assert e01["car_0_p20"] == pytest.approx(21 * 0.005, rel=1e-9)  # AR(1..21)
    assert math.isnan(e01["volume_ratio_day0"])  # 1 prior day, needs 20

    e00 = row_of(table, "contract_id", "e00")
    assert e00["event_date"] == days[0]
    for column in ("return_day0", "car_m1_p1", "car_0_p5", "car_0_p20", "volume_ratio_day0"):
        assert math.isnan(e00[column]), column

    e27 = row_of(table, "contract_id", "e27")
    assert e27["return_day0"] == pytest.approx(0.01)
    # AR(26) + AR(27) + AR(28) = (0.01 - 0.010025) + 0.005 + 0.005
    assert e27["car_m1_p1"] == pytest.approx(0.009975, rel=1e-9)
    assert math.isnan(e27["car_0_p5"])  # 27 + 5 = 32 > 29
    # 100 / mean(days 7..26) = 100 / ((19 * 100 + 300) / 20) = 100 / 110
    assert e27["volume_ratio_day0"] == pytest.approx(100 / 110)

    late = row_of(table, "contract_id", "late")
    assert pd.isna(late["event_date"])
    assert math.isnan(late["return_day0"])


def test_volume_ratio_is_null_when_the_prior_mean_is_zero() -> None:
    days = [d.strftime("%Y-%m-%d") for d in pd.bdate_range("2024-01-01", periods=22)]
    volume = dict.fromkeys(days, 0.0) | {days[21]: 50.0}
    prices = pd.concat(
        [
            prices_of("EV", dict.fromkeys(days, 1.0), volume=volume),
            prices_of("QQQ", dict.fromkeys(days, 1.0)),
        ]
    )
    contracts = contracts_of(("c", "EV", days[21], None, None, "active"))
    table = ref.contract_announcement_returns(prices, contracts)
    assert math.isnan(table["volume_ratio_day0"].iloc[0])
    assert table["return_day0"].iloc[0] == 0.0


# --------------------------------------------------------------------------------------------
# miner_pivot_index_daily


def test_pivot_index_by_hand() -> None:
    weekdays = ["2024-06-03", "2024-06-04", "2024-06-05", "2024-06-06", "2024-06-07", "2024-06-10"]
    prices = pd.concat(
        [
            # Returns from 06-04: +10%, +10%, -10%, 0, +10%. Contract announced 06-04 = E.
            prices_of(
                "M1", dict(zip(weekdays, [100, 110, 121, 108.9, 108.9, 119.79], strict=True))
            ),
            # +2%, -2%, 0, +5%, 0
            prices_of(
                "M2", dict(zip(weekdays, [50, 51, 49.98, 49.98, 52.479, 52.479], strict=True))
            ),
            # H1: +1%, 0, +2%, 0, 0; H2 starts 06-05: -2%, +5%, 0
            prices_of(
                "H1", dict(zip(weekdays, [10, 10.1, 10.1, 10.302, 10.302, 10.302], strict=True))
            ),
            prices_of(
                "H2",
                {"2024-06-05": 20, "2024-06-06": 19.6, "2024-06-07": 20.58, "2024-06-10": 20.58},
            ),
            # +1%, +1%, 0, +1%, 0
            prices_of(
                "NVDA",
                dict(zip(weekdays, [100, 101, 102.01, 102.01, 103.0301, 103.0301], strict=True)),
            ),
            # BTC, 7 days: +1%, +2%, 0, -1%, +3% (Sat), -3% (Sun), +1%
            prices_of(
                "BTC-USD",
                dict(
                    zip(
                        pd.date_range("2024-06-03", "2024-06-10").strftime("%Y-%m-%d"),
                        np.cumprod([1000, 1.01, 1.02, 1.0, 0.99, 1.03, 0.97, 1.01]),
                        strict=True,
                    )
                ),
            ),
            prices_of("QQQ", dict(zip(weekdays, [1, 2, 3, 4, 5, 6], strict=True))),  # no basket
            prices_of("XYZ", dict(zip(weekdays, [1, 2, 3, 4, 5, 6], strict=True))),  # not a company
        ],
        ignore_index=True,
    )
    companies = companies_of(
        M1="bitcoin_miner",
        M2="bitcoin_miner",
        H1="hyperscaler",
        H2="hyperscaler",
        NVDA="ai_infrastructure",
        QQQ="benchmark",
        **{"BTC-USD": "crypto"},
    )
    contracts = contracts_of(("c", "M1", "2024-06-04", 10, 1.0, "active"))
    index = ref.pivot_index_daily(prices, companies, contracts)
    assert list(index.columns) == ref.INDEX_COLUMNS

    # F = 2024-06-05, the first day pivoted_miners has a row (M1's first return after E).
    # On 06-04 M1's +10% (event day) and M2's +2% average into other_miners: that row is before
    # F and not in the mart.
    expected = {
        # basket: [(date, daily_return, index_level), ...]
        "pivoted_miners": [
            ("06-05", 0.10, 100),
            ("06-06", -0.10, 90),
            ("06-07", 0.0, 90),
            ("06-10", 0.10, 99),
        ],
        "other_miners": [
            ("06-05", -0.02, 100),
            ("06-06", 0.0, 100),
            ("06-07", 0.05, 105),
            ("06-10", 0.0, 105),
        ],
        "hyperscalers": [
            ("06-05", 0.0, 100),
            ("06-06", 0.0, 100),
            ("06-07", 0.025, 102.5),
            ("06-10", 0.0, 102.5),
        ],
        "nvda": [
            ("06-05", 0.01, 100),
            ("06-06", 0.0, 100),
            ("06-07", 0.01, 101),
            ("06-10", 0.0, 101),
        ],
        "btc": [
            ("06-05", 0.02, 100),
            ("06-06", 0.0, 100),
            ("06-07", -0.01, 99),
            ("06-08", 0.03, 99 * 1.03),
            ("06-09", -0.03, 99 * 1.03 * 0.97),
            ("06-10", 0.01, 99 * 1.03 * 0.97 * 1.01),
        ],
    }
    for basket, rows in expected.items():
        got = index[index["basket"] == basket]
        assert got["date"].dt.strftime("%m-%d").tolist() == [day for day, _, _ in rows], basket
        assert got["daily_return"].tolist() == pytest.approx([r for _, r, _ in rows], abs=1e-12)
        assert got["index_level"].tolist() == pytest.approx([lv for _, _, lv in rows], rel=1e-12)
    assert len(index) == sum(len(rows) for rows in expected.values())


def test_pivot_index_as_of_cuts_the_dates() -> None:
    days = ["2024-06-03", "2024-06-04", "2024-06-05"]
    prices = pd.concat(
        [
            prices_of(ticker, dict(zip(days, [1.0, 2.0, 4.0], strict=True)))
            for ticker in ("M1", "M2", "H1", "NVDA", "BTC-USD")
        ]
    )
    companies = companies_of(
        M1="bitcoin_miner", M2="bitcoin_miner", H1="hyperscaler", NVDA="x", **{"BTC-USD": "x"}
    )
    contracts = contracts_of(("c", "M1", "2024-06-03", 1, 1, "active"))
    index = ref.pivot_index_daily(prices, companies, contracts, "2024-06-04")
    assert index["date"].unique().tolist() == [pd.Timestamp("2024-06-04")]
    assert index["index_level"].tolist() == [100.0] * 5
    assert index["daily_return"].tolist() == [1.0] * 5


# --------------------------------------------------------------------------------------------
# The comparison helper used by the match test


def test_compare_frames_reports_each_difference() -> None:
    reference = pd.DataFrame(
        {
            "ticker": ["A", "B", "C"],
            "day": pd.to_datetime(["2024-01-01", "2024-01-02", None]),
            "value": [1.0, float("nan"), 0.0],
            "flag": [True, False, True],
        }
    )
    mart = pd.DataFrame(
        {
            "ticker": ["A", "B", "D"],
            "day": pd.to_datetime(["2024-01-01", "2024-01-03", None]),
            "value": [1.0 + 1e-12, 2.0, 0.0],
            "flag": [True, False, True],
            "extra": [1, 2, 3],
        }
    )
    differences = compare_frames(reference, mart, ["ticker"])
    found = set(zip(differences["ticker"], differences["column"], strict=True))
    assert found == {("B", "day"), ("B", "value"), ("C", "*"), ("D", "*")}
    assert "4 cells differ" in describe_differences("t", differences)
    assert compare_frames(reference, reference, ["ticker"]).empty
    missing = compare_frames(reference, mart.drop(columns="flag"), ["ticker"])
    assert missing["column"].tolist() == ["flag"]


# --------------------------------------------------------------------------------------------
# The real sample
#
# Each test runs on the real yfinance exports in ../shared (skipped when they are not there)
# and on generated exports laid out like them (tests/exports.py: write_sample_like_exports),
# so a plain clone checks the same rules. Expected values are read from the files with the csv
# module, not with the product's parser.

GENERATED_FIRST_DAY, GENERATED_LAST_DAY = date(2023, 6, 1), date(2025, 4, 4)
CORZ_VALID_FROM = pd.Timestamp("2024-01-24")  # companies.csv: the re-listing after Chapter 11
HUT_VALID_FROM = pd.Timestamp("2023-12-01")  # companies.csv: the new HUT after the merger
# (volatility_1y, beta_btc_1y) ranges every miner is in. Real miners: 30% to 300% a year and
# moving with bitcoin. Generated paths: the generator draws a yearly volatility of 25% to 100%
# and every ticker's path independently, so betas are near 0 either way.
PLAUSIBLE = {
    "sample": ((0.3, 3.0), (0.0, 3.0)),
    "generated": ((0.2, 1.2), (-0.5, 0.5)),
}


@dataclass(frozen=True)
class Exports:
    kind: str  # "sample" (the real exports in ../shared) or "generated"
    folder: Path
    prices: pd.DataFrame  # ref.load_sample_prices(folder)


@pytest.fixture(scope="module", params=["sample", "generated"])
def exports(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Exports:
    if request.param == "sample":
        if not SAMPLE_PRICES_DIR.is_dir():
            pytest.skip(f"{SAMPLE_PRICES_DIR} is not there (../shared beside the checkout)")
        folder = SAMPLE_PRICES_DIR
    else:
        folder = write_sample_like_exports(
            tmp_path_factory.mktemp("sample_like_exports"),
            first_day=GENERATED_FIRST_DAY,
            last_day=GENERATED_LAST_DAY,
        )
    return Exports(request.param, folder, ref.load_sample_prices(folder))


def file_adj_closes(folder: Path, ticker: str) -> dict[pd.Timestamp, float]:
    """Date -> Adj Close straight from an export, read without the product's parser (Close, or
    close, in a file without an Adj Close column, like BTC-USD.csv)."""
    with (folder / f"{ticker}.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    (column,) = [name for name in ("Adj Close", "Close", "close") if name in rows[0]][:1]
    return {pd.Timestamp(row["Date"][:10]): float(row[column]) for row in rows}


def file_price_on_or_before(prices: dict[pd.Timestamp, float], day: pd.Timestamp) -> float:
    return prices[max(d for d in prices if d <= day)]


def file_one_year_metrics(
    folder: Path, ticker: str, as_of: pd.Timestamp
) -> tuple[float, float, float]:
    """(volatility_1y, beta_btc_1y, corr_btc_1y) of a ticker from the files, with the statistics
    module: daily returns of its file days in (A - 1 year, A], BTC's over the same spans."""
    prices = file_adj_closes(folder, ticker)
    btc = file_adj_closes(folder, "BTC-USD")
    days = sorted(prices)
    start = as_of - pd.DateOffset(years=1)
    miner_returns, btc_returns = [], []
    for previous, day in itertools.pairwise(days):
        if start < day <= as_of:
            miner_returns.append(prices[day] / prices[previous] - 1)
            btc_returns.append(
                file_price_on_or_before(btc, day) / file_price_on_or_before(btc, previous) - 1
            )
    beta = statistics.covariance(miner_returns, btc_returns) / statistics.variance(btc_returns)
    return (
        statistics.stdev(miner_returns) * math.sqrt(252),
        beta,
        statistics.correlation(miner_returns, btc_returns),
    )


def test_sample_miner_table_is_plausible(exports: Exports) -> None:
    companies, contracts = ref.load_companies(), ref.load_contracts()
    as_of = pd.Timestamp("2025-04-04")
    table = ref.miner_performance(exports.prices, companies, contracts, as_of)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.drop(columns="price_source").set_index("ticker").T)

    miners = set(companies.loc[companies["segment"] == "bitcoin_miner", "ticker"])
    assert set(table["ticker"]) == miners
    # KEEL's file is under its old symbol BITF (ticker_changes), and it has prices.
    assert not (exports.folder / "KEEL.csv").exists()
    assert row_of(table, "ticker", "KEEL")["as_of_date"] == as_of
    assert not (exports.folder / "GLXY.csv").exists()
    glxy = row_of(table, "ticker", "GLXY")  # no file: contracts kept, prices NULL
    assert glxy["is_ai_pivoted"]
    assert glxy["as_of_date"] == as_of
    assert pd.isna(glxy["last_price_date"])
    assert pd.isna(glxy["is_stale"])
    assert glxy["days_1y"] == 0
    assert pd.isna(glxy["return_1y"])
    table = table[table["ticker"] != "GLXY"]
    assert (table["as_of_date"] == as_of).all()
    assert (table["last_price_date"] == as_of).all()
    assert not table["is_stale"].any()
    # Exchange holidays: every miner trades on most, not all, of the year's 261 weekdays.
    assert (table["window_days_1y"] == 261).all()
    assert table["days_1y"].between(0.94 * 261, 258).all()
    (volatility_low, volatility_high), (beta_low, beta_high) = PLAUSIBLE[exports.kind]
    assert table["volatility_1y"].between(volatility_low, volatility_high).all()
    assert table["max_drawdown_1y"].between(-1, 0).all()
    assert table["beta_btc_1y"].between(beta_low, beta_high).all()
    for column in ("corr_btc_1y", "corr_nvda_1y"):
        assert table[column].between(-1, 1).all()

    # IREN's 1-year return straight from the file: P(2025-04-04) / P(2024-04-04) - 1.
    iren = file_adj_closes(exports.folder, "IREN")
    expected = iren[as_of] / file_price_on_or_before(iren, pd.Timestamp("2024-04-04"))
    iren_row = row_of(table, "ticker", "IREN")
    assert iren_row["return_1y"] == pytest.approx(expected - 1, rel=1e-12)
    assert -0.9 < expected - 1 < 5
    # Its volatility and BTC beta and correlation from the files too.
    volatility, beta, corr = file_one_year_metrics(exports.folder, "IREN", as_of)
    assert iren_row["volatility_1y"] == pytest.approx(volatility, rel=1e-9)
    assert iren_row["beta_btc_1y"] == pytest.approx(beta, rel=1e-9)
    assert iren_row["corr_btc_1y"] == pytest.approx(corr, rel=1e-9)

    # Contracts visible at 2025-04-04: CORZ's five CoreWeave rows (June 2024, its two option
    # exercises, October 2024, the February 2025 Denton expansion) and WULF's Core42 lease.
    pivoted = table[table["is_ai_pivoted"]]
    assert dict(zip(pivoted["ticker"], pivoted["ai_contract_count"], strict=True)) == {
        "CORZ": 5,
        "WULF": 1,
    }
    assert math.isnan(row_of(table, "ticker", "WULF")["contracted_value_usd"])


def test_sample_corz_never_uses_the_pre_bankruptcy_prices(exports: Exports) -> None:
    # The files hold another security's rows before the valid-from dates ...
    corz_file = file_adj_closes(exports.folder, "CORZ")
    hut_file = file_adj_closes(exports.folder, "HUT")
    assert min(corz_file) < pd.Timestamp("2023-12-31")
    assert CORZ_VALID_FROM in corz_file
    assert min(hut_file) < HUT_VALID_FROM
    # ... which the loaded prices do not.
    prices = exports.prices
    corz_days = prices.loc[prices["ticker"] == "CORZ", "date"]
    assert corz_days.min() == CORZ_VALID_FROM
    hut_days = prices.loc[prices["ticker"] == "HUT", "date"]
    assert hut_days.min() == min(day for day in hut_file if day >= HUT_VALID_FROM)
    companies, contracts = ref.load_companies(), ref.load_contracts()

    # As of 2024-12-31, A - 1 year = 2023-12-31 is before CORZ's first valid price: the 1-year
    # metrics are NULL, not computed from the old security (which they would be unfiltered).
    table = ref.miner_performance(prices, companies, contracts, "2024-12-31")
    corz = row_of(table, "ticker", "CORZ")
    for column in ("return_1y", "return_ytd", "volatility_1y", "max_drawdown_1y", "beta_btc_1y"):
        assert math.isnan(corz[column]), column
    unfiltered, _ = ref.read_price_folder(exports.folder)
    unfiltered = unfiltered.assign(ticker=unfiltered["ticker"].astype(str))
    naive = ref.miner_performance(unfiltered, companies, contracts, "2024-12-31")
    old_security = file_price_on_or_before(corz_file, pd.Timestamp("2023-12-31"))
    naive_expected = file_price_on_or_before(corz_file, pd.Timestamp("2024-12-31")) / old_security
    assert row_of(naive, "ticker", "CORZ")["return_1y"] == pytest.approx(
        naive_expected - 1, rel=1e-12
    )

    # As of 2025-04-04 the window starts 2024-04-04, after the re-listing: straight from the file.
    table = ref.miner_performance(prices, companies, contracts, "2025-04-04")
    expected = corz_file[pd.Timestamp("2025-04-04")] / file_price_on_or_before(
        corz_file, pd.Timestamp("2024-04-04")
    )
    assert row_of(table, "ticker", "CORZ")["return_1y"] == pytest.approx(expected - 1, rel=1e-12)


def test_sample_event_study_and_index_are_consistent(exports: Exports) -> None:
    companies, contracts = ref.load_companies(), ref.load_contracts()
    events = ref.contract_announcement_returns(exports.prices, contracts, "2025-04-04")
    assert sorted(events["contract_id"]) == [
        "corz_coreweave_2024_06",
        "corz_coreweave_2024_06_option",
        "corz_coreweave_2024_08_option",
        "corz_coreweave_2024_10",
        "corz_coreweave_2025_02_denton",
        "glxy_coreweave_2025_03",  # counts, but GLXY has no prices: every metric NULL
        "wulf_core42_2024_12",
    ]
    glxy = row_of(events, "contract_id", "glxy_coreweave_2025_03")
    assert pd.isna(glxy["event_date"])
    assert math.isnan(glxy["return_day0"])
    # 2024-08-31 is a Saturday and Monday 2024-09-02 Labor Day: the event day is Tuesday.
    corz_file = file_adj_closes(exports.folder, "CORZ")
    assert pd.Timestamp("2024-09-02") not in corz_file
    options = row_of(events, "contract_id", "corz_coreweave_2024_08_option")
    assert options["event_date"] == pd.Timestamp("2024-09-03")
    assert options["return_day0"] == pytest.approx(
        corz_file[pd.Timestamp("2024-09-03")] / corz_file[pd.Timestamp("2024-08-30")] - 1,
        rel=1e-12,
    )
    # 2024-06-30 is a Sunday: the event day is Monday 2024-07-01.
    first_option = row_of(events, "contract_id", "corz_coreweave_2024_06_option")
    assert first_option["event_date"] == pd.Timestamp("2024-07-01")

    index = ref.pivot_index_daily(exports.prices, companies, contracts, "2025-04-04")
    # CORZ's first contract (2024-06-03, a Monday) starts the pivoted basket the next day.
    assert index["date"].min() == pd.Timestamp("2024-06-04")
    assert set(index["basket"]) == set(ref.BASKETS)
    first = index[index["date"] == index["date"].min()]
    assert (first["index_level"] == 100.0).all()
    assert index["date"].max() == pd.Timestamp("2025-04-04")
    # The btc basket is BTC-USD alone: its level on 2025-04-04 is 100 x its price ratio.
    btc_file = file_adj_closes(exports.folder, "BTC-USD")
    btc_last = row_of(index[index["basket"] == "btc"], "date", pd.Timestamp("2025-04-04"))
    assert btc_last["index_level"] == pytest.approx(
        100 * btc_file[pd.Timestamp("2025-04-04")] / btc_file[pd.Timestamp("2024-06-04")],
        rel=1e-9,
    )


def test_the_reference_and_the_dashboard_use_the_rules_dbt_project_yml_declares() -> None:
    import yaml

    from orchestration.paths import DBT_PROJECT_DIR
    from orchestration.report.dashboard import coverage_share, stale_after_weekdays
    from tests.marts.reference import MIN_WINDOW_COVERAGE, STALE_AFTER_WEEKDAYS

    declared = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    assert Fraction(str(declared["min_window_coverage"])) == MIN_WINDOW_COVERAGE
    assert declared["stale_after_weekdays"] == STALE_AFTER_WEEKDAYS
    assert coverage_share() == float(MIN_WINDOW_COVERAGE)
    assert stale_after_weekdays() == STALE_AFTER_WEEKDAYS
