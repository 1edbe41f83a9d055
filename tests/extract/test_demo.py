from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from orchestration.extract.schema import PRICE_COLUMNS
from orchestration.extract.sources.demo import (
    demo_ticker_names,
    generate_demo_prices,
    is_crypto_ticker,
)


def test_same_arguments_give_identical_frames() -> None:
    first = generate_demo_prices(["IREN", "BTC-USD"], date(2021, 1, 1), date(2022, 1, 1), seed=7)
    second = generate_demo_prices(["IREN", "BTC-USD"], date(2021, 1, 1), date(2022, 1, 1), seed=7)
    pd.testing.assert_frame_equal(first, second)


def test_another_seed_gives_other_prices() -> None:
    first = generate_demo_prices(["IREN"], date(2021, 1, 1), date(2021, 3, 1), seed=1)
    second = generate_demo_prices(["IREN"], date(2021, 1, 1), date(2021, 3, 1), seed=2)
    assert not np.allclose(first["close"], second["close"])


def test_a_tickers_prices_do_not_depend_on_the_other_tickers_or_the_window() -> None:
    alone = generate_demo_prices(["IREN"], date(2020, 1, 1), date(2024, 12, 31))
    with_others = generate_demo_prices(
        ["CIFR", "IREN", "NVDA"], date(2024, 6, 1), date(2024, 6, 30)
    )
    iren_june = with_others[with_others["ticker"] == "IREN"].reset_index(drop=True)
    expected = alone[alone["date"].between("2024-06-01", "2024-06-30")].reset_index(drop=True)
    pd.testing.assert_frame_equal(iren_june, expected)


def test_equities_trade_on_weekdays_and_crypto_every_day() -> None:
    frame = generate_demo_prices(["IREN", "BTC-USD"], date(2024, 1, 1), date(2024, 1, 31))
    iren_days = frame.loc[frame["ticker"] == "IREN", "date"]
    btc_days = frame.loc[frame["ticker"] == "BTC-USD", "date"]
    assert len(btc_days) == 31
    assert len(iren_days) == 23  # weekdays of January 2024
    assert (iren_days.dt.day_of_week < 5).all()


def test_prices_are_plausible_bars() -> None:
    frame = generate_demo_prices(demo_ticker_names(20), date(2000, 1, 3), date(2026, 11, 27))
    assert list(frame.columns) == PRICE_COLUMNS
    assert (frame["close"] > 0).all()
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert (frame["adj_close"] == frame["close"]).all()
    daily_returns = frame.groupby("ticker")["close"].pct_change().dropna()
    annualised_volatility = daily_returns.std() * np.sqrt(252)
    assert 0.1 < annualised_volatility < 1.5
    # The level stays in a plausible band over decades instead of drifting to 0 or infinity.
    assert frame["close"].min() > 0.05
    assert frame["close"].max() < 1e5


def test_window_outside_the_fixed_calendar_is_refused() -> None:
    with pytest.raises(ValueError, match="demo prices cover"):
        generate_demo_prices(["IREN"], date(1999, 1, 1), date(2000, 6, 1))


def test_empty_window_gives_empty_frame() -> None:
    assert generate_demo_prices(["IREN"], date(2024, 2, 1), date(2024, 1, 1)).empty


def test_ticker_names_and_crypto_detection() -> None:
    assert demo_ticker_names(3) == ["DEMO00001", "DEMO00002", "DEMO00003"]
    assert is_crypto_ticker("BTC-USD")
    assert not is_crypto_ticker("IREN")
