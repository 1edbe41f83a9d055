"""Tests for the yfinance extractor. Nothing here touches the network.

The fake ``download`` frames copy yfinance 1.7's ``download(group_by="column",
multi_level_index=True)`` result as built in ``yfinance/multi.py``: per-ticker
``Ticker.history()`` frames reindexed to the union of their dates (NaN padding), concatenated
with ``names=['Ticker', 'Price']``, levels swapped and sorted, so columns are
``from_product([fields, sorted tickers], names=['Price', 'Ticker'])``; index a tz-naive
``DatetimeIndex`` named ``Date``; Volume int64 (``history`` casts it) unless NaN padding made
it float64; a failed ticker is all-NaN columns (``utils.empty_df()`` reindexed).
``test_contract_with_real_yfinance_download`` checks that claim against the installed
``yfinance.download`` with only ``Ticker.history`` faked.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from datetime import date

import numpy as np
import pandas as pd
import pytest
import yfinance as yf
from yfinance.exceptions import YFRateLimitError

from orchestration.extract.schema import PRICE_COLUMNS
from orchestration.extract.sources import yahoo
from orchestration.extract.sources.yahoo import (
    NO_ROWS_REASON,
    RetryPolicy,
    YFinanceResult,
    configure_yfinance,
    fetch_yfinance_prices,
    yahoo_is_reachable,
)

FIELDS = ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
START = date(2024, 1, 1)
END = date(2024, 1, 10)


# --------------------------------------------------------------------------- helpers


def yf_frame(dates: list[str], per_ticker: dict[str, dict[str, list] | None]) -> pd.DataFrame:
    """A frame shaped like yfinance 1.7 ``download``; ``None`` values become NaN.

    ``per_ticker[t] = None`` gives an all-NaN ticker (how download reports a failed symbol).
    """
    tickers = sorted(per_ticker)
    index = pd.DatetimeIndex(dates, name="Date")
    data: dict[tuple[str, str], np.ndarray] = {}
    for field in FIELDS:
        for ticker in tickers:
            fields = per_ticker[ticker] or {}
            values = fields.get(field)
            if values is None:
                column = np.full(len(dates), np.nan)
            else:
                column = np.array([np.nan if v is None else v for v in values], dtype="float64")
            if field == "Volume" and not np.isnan(column).any():
                column = column.astype("int64")
            data[(field, ticker)] = column
    frame = pd.DataFrame(data, index=index)
    frame.columns = pd.MultiIndex.from_product([FIELDS, tickers], names=["Price", "Ticker"])
    return frame


def bars(closes: list[float | None]) -> dict[str, list]:
    """Simple OHLCV around the given closes (None -> a NaN-padded date)."""

    def shift(delta: float) -> list[float | None]:
        return [None if c is None else c + delta for c in closes]

    return {
        "Open": shift(-1.0),
        "High": shift(1.0),
        "Low": shift(-2.0),
        "Close": list(closes),
        "Adj Close": [None if c is None else c * 0.5 for c in closes],
        "Volume": [None if c is None else 1000 + i for i, c in enumerate(closes)],
    }


def empty_yf_frame(tickers: list[str]) -> pd.DataFrame:
    """What download returns when every symbol failed: zero rows, the usual columns."""
    columns = pd.MultiIndex.from_product([FIELDS, sorted(tickers)], names=["Price", "Ticker"])
    return pd.DataFrame(index=pd.DatetimeIndex([]), columns=columns, dtype="float64")


class FakeDownload:
    """Records every call; answers from a function of the requested tickers."""

    def __init__(self, respond):
        self.respond = respond
        self.calls: list[dict] = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        return self.respond(list(kwargs["tickers"]), len(self.calls))

    @property
    def requested(self) -> list[list[str]]:
        return [list(call["tickers"]) for call in self.calls]


class SleepRecorder:
    def __init__(self):
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def fetch(tickers, download, **kwargs) -> tuple[YFinanceResult, SleepRecorder]:
    sleeper = kwargs.pop("sleep", SleepRecorder())
    result = fetch_yfinance_prices(
        tickers,
        START,
        END,
        download=download,
        sleep=sleeper,
        rng=kwargs.pop("rng", random.Random(0)),
        **kwargs,
    )
    return result, sleeper


def rows_of(frame: pd.DataFrame, ticker: str) -> pd.DataFrame:
    return frame[frame["ticker"] == ticker].reset_index(drop=True)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any Python-level socket use in these tests is a bug."""

    def refuse(*args, **kwargs):
        raise OSError("network access in tests is not allowed")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def restore_yfinance_config():
    """configure_yfinance mutates yfinance globals; put them back afterwards."""
    managers = [yf.cache._TzDBManager, yf.cache._CookieDBManager, yf.cache._ISINDBManager]
    locations = [manager.get_location() for manager in managers]
    retries = yf.config.network.retries
    yield
    for manager, location in zip(managers, locations, strict=True):
        manager.set_location(location)
    yf.config.network.retries = retries


# --------------------------------------------------------------------------- conversion


def test_fake_frame_has_yfinance_17_shape():
    frame = yf_frame(["2024-01-05", "2024-01-08"], {"RIOT": bars([10.0, 11.0]), "MARA": None})
    assert frame.columns.names == ["Price", "Ticker"]
    assert list(frame.columns) == [(f, t) for f in FIELDS for t in ["MARA", "RIOT"]]
    assert frame.index.name == "Date"
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.tz is None
    assert frame[("Volume", "RIOT")].dtype == np.int64
    assert frame[("Close", "RIOT")].dtype == np.float64


def test_long_conversion_exact_values_and_nan_padding():
    dates = ["2024-01-05", "2024-01-06", "2024-01-07", "2024-01-08"]
    raw = yf_frame(
        dates,
        {
            # BTC trades on the weekend: all four rows are real.
            "BTC-USD": {
                "Open": [44000.0, 44100.0, 43900.0, 44500.0],
                "High": [44500.0, 44300.0, 44200.0, 47000.0],
                "Low": [43500.0, 43800.0, 43600.0, 44300.0],
                "Close": [44100.0, 43950.0, 44150.0, 46900.0],
                "Adj Close": [44100.0, 43950.0, 44150.0, 46900.0],
                "Volume": [21_000_000_000, 12_000_000_000, 13_000_000_000, 30_000_000_000],
            },
            # MARA only Friday and Monday: yfinance pads Sat/Sun with NaN.
            "MARA": {
                "Open": [19.5, None, None, 20.1],
                "High": [20.2, None, None, 22.0],
                "Low": [19.1, None, None, 20.0],
                "Close": [19.9, None, None, 21.7],
                "Adj Close": [19.8, None, None, 21.6],
                "Volume": [50_000_000, None, None, 61_000_000],
            },
        },
    )
    download = FakeDownload(lambda tickers, n: raw)
    result, sleeper = fetch(["MARA", "BTC-USD"], download)

    assert result.failed == {}
    assert sleeper.delays == []
    prices = result.prices
    assert list(prices.columns) == PRICE_COLUMNS
    assert len(prices) == 6

    mara = rows_of(prices, "MARA")
    assert list(mara["date"]) == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-08")]
    assert mara.loc[0, ["open", "high", "low", "close", "adj_close", "volume"]].tolist() == [
        19.5,
        20.2,
        19.1,
        19.9,
        19.8,
        50_000_000.0,
    ]
    assert mara.loc[1, ["close", "adj_close"]].tolist() == [21.7, 21.6]
    assert mara["adj_close"].tolist() != mara["close"].tolist()  # from "Adj Close", not Close

    btc = rows_of(prices, "BTC-USD")
    assert list(btc["date"]) == [pd.Timestamp(d) for d in dates]  # weekend rows kept
    assert btc["close"].tolist() == [44100.0, 43950.0, 44150.0, 46900.0]
    assert btc["volume"].tolist() == [21e9, 12e9, 13e9, 30e9]

    assert prices["date"].dtype == "datetime64[ns]"
    assert all(prices[c].dtype == np.float64 for c in ["open", "close", "adj_close", "volume"])
    assert prices[["ticker", "date"]].duplicated().sum() == 0


def test_all_nan_and_missing_ticker_fail_while_others_succeed():
    raw = yf_frame(["2024-01-05", "2024-01-08"], {"RIOT": bars([10.0, 11.0]), "DEAD": None})
    download = FakeDownload(lambda tickers, n: raw)  # GONE is never in the columns
    result, sleeper = fetch(["RIOT", "DEAD", "GONE"], download)

    assert result.failed == {"DEAD": NO_ROWS_REASON, "GONE": NO_ROWS_REASON}
    assert set(result.prices["ticker"]) == {"RIOT"}
    assert len(result.prices) == 2
    # Only the empty ones are asked again, until the attempts are used up.
    assert download.requested[0] == ["RIOT", "DEAD", "GONE"]
    assert download.requested[1:] == [["DEAD", "GONE"]] * 3
    assert len(sleeper.delays) == 3


def test_ticker_named_like_a_field_is_not_confused():
    # OPEN (Opendoor) and LOW (Lowe's) are real symbols.
    raw = yf_frame(["2024-01-05"], {"OPEN": bars([2.0]), "LOW": bars([250.0])})
    result, _ = fetch(["OPEN", "LOW"], FakeDownload(lambda tickers, n: raw))
    assert result.failed == {}
    assert rows_of(result.prices, "OPEN").loc[0, "open"] == 1.0
    assert rows_of(result.prices, "LOW").loc[0, "low"] == 248.0


def test_tickers_are_upper_cased_and_deduplicated():
    raw = yf_frame(["2024-01-05"], {"MARA": bars([20.0])})
    download = FakeDownload(lambda tickers, n: raw)
    result, _ = fetch(["mara", " MARA ", "Mara"], download)
    assert download.requested == [["MARA"]]
    assert result.prices["ticker"].tolist() == ["MARA"]


def test_single_level_columns_are_the_only_tickers_fields():
    raw = yf_frame(["2024-01-05", "2024-01-08"], {"CLSK": bars([9.0, 9.5])})
    raw = raw.droplevel("Ticker", axis=1).rename_axis(None, axis=1)
    result, _ = fetch(["CLSK"], FakeDownload(lambda tickers, n: raw))
    assert result.failed == {}
    assert rows_of(result.prices, "CLSK")["close"].tolist() == [9.0, 9.5]


def test_tz_aware_index_keeps_the_local_trading_date():
    raw = yf_frame(["2024-01-05"], {"MARA": bars([20.0])})
    raw.index = raw.index.tz_localize("America/New_York")
    result, _ = fetch(["MARA"], FakeDownload(lambda tickers, n: raw))
    assert result.prices["date"].tolist() == [pd.Timestamp("2024-01-05")]


def test_no_tickers_means_no_call_and_an_empty_standard_frame():
    download = FakeDownload(lambda tickers, n: pytest.fail("download must not be called"))
    result, _ = fetch([], download)
    assert result.failed == {}
    assert list(result.prices.columns) == PRICE_COLUMNS
    assert result.prices.empty


def test_everything_failed_returns_empty_standard_frame():
    download = FakeDownload(lambda tickers, n: empty_yf_frame(tickers))
    result, _ = fetch(["DEAD"], download, retry=RetryPolicy(attempts=2))
    assert result.failed == {"DEAD": NO_ROWS_REASON}
    assert list(result.prices.columns) == PRICE_COLUMNS
    assert result.prices.empty


# --------------------------------------------------------------------------- download kwargs


def test_download_kwargs():
    download = FakeDownload(lambda tickers, n: yf_frame(["2024-01-05"], {"MARA": bars([1.0])}))
    fetch(["MARA"], download)
    assert download.calls == [
        {
            "tickers": ["MARA"],
            "start": "2024-01-01",
            "end": "2024-01-10",
            "auto_adjust": False,
            "actions": False,
            "threads": True,
            "progress": False,
            "timeout": 10,
            "multi_level_index": True,
            "group_by": "column",
        }
    ]


def test_open_ended_end_is_passed_as_none():
    download = FakeDownload(lambda tickers, n: yf_frame(["2024-01-05"], {"MARA": bars([1.0])}))
    fetch_yfinance_prices(["MARA"], START, download=download, sleep=SleepRecorder())
    assert download.calls[0]["end"] is None
    assert download.calls[0]["auto_adjust"] is False


# --------------------------------------------------------------------------- retries


def test_rate_limit_twice_then_success_backs_off_with_increasing_delays():
    raw = yf_frame(["2024-01-05"], {"MARA": bars([20.0]), "RIOT": bars([10.0])})

    def respond(tickers, n):
        if n <= 2:
            raise YFRateLimitError()
        return raw

    policy = RetryPolicy(jitter=0.2)  # +-20 %: retry 2 (1.6-2.4 s) always waits longer than 1
    download = FakeDownload(respond)
    result, sleeper = fetch(["MARA", "RIOT"], download, retry=policy, rng=random.Random(42))

    assert result.failed == {}
    assert set(result.prices["ticker"]) == {"MARA", "RIOT"}
    assert len(download.calls) == 3
    replay = random.Random(42)
    assert sleeper.delays == [policy.delay(0, replay), policy.delay(1, replay)]
    assert sleeper.delays[0] < sleeper.delays[1]
    assert 0.8 <= sleeper.delays[0] <= 1.2
    assert 1.6 <= sleeper.delays[1] <= 2.4


def test_always_raising_batch_fails_only_its_tickers():
    def respond(tickers, n):
        if "RIOT" in tickers:
            raise YFRateLimitError()
        return yf_frame(["2024-01-05"], {t: bars([5.0]) for t in tickers})

    download = FakeDownload(respond)
    result, sleeper = fetch(["MARA", "RIOT", "CLSK", "HUT"], download, batch_size=2)

    error = "YFRateLimitError: Too Many Requests. Rate limited. Try after a while."
    assert result.failed == {"MARA": error, "RIOT": error}
    assert set(result.prices["ticker"]) == {"CLSK", "HUT"}
    assert download.requested == [["MARA", "RIOT"]] * 4 + [["CLSK", "HUT"]]
    assert len(sleeper.delays) == 3


@pytest.mark.parametrize(
    "error",
    [TimeoutError("timed out"), ConnectionError("reset by peer"), OSError("no route to host")],
)
def test_network_errors_are_retried(error):
    def respond(tickers, n):
        if n == 1:
            raise error
        return yf_frame(["2024-01-05"], {"MARA": bars([20.0])})

    result, sleeper = fetch(["MARA"], FakeDownload(respond))
    assert result.failed == {}
    assert len(sleeper.delays) == 1


def test_curl_cffi_errors_are_retried():
    from curl_cffi import CurlError
    from curl_cffi.requests.exceptions import ConnectionError as CurlConnectionError

    errors = [CurlError("curl: (6) Could not resolve host"), CurlConnectionError("refused")]

    def respond(tickers, n):
        if n <= len(errors):
            raise errors[n - 1]
        return yf_frame(["2024-01-05"], {"MARA": bars([20.0])})

    result, sleeper = fetch(["MARA"], FakeDownload(respond))
    assert result.failed == {}
    assert len(sleeper.delays) == 2


def test_unexpected_error_fails_the_batch_without_retrying():
    def respond(tickers, n):
        if "RIOT" in tickers:
            raise ValueError("No objects to concatenate")
        return yf_frame(["2024-01-05"], {t: bars([5.0]) for t in tickers})

    download = FakeDownload(respond)
    result, sleeper = fetch(["RIOT", "MARA"], download, batch_size=1)
    assert result.failed == {"RIOT": "ValueError: No objects to concatenate"}
    assert set(result.prices["ticker"]) == {"MARA"}
    assert download.requested == [["RIOT"], ["MARA"]]
    assert sleeper.delays == []


def test_empty_frame_then_data_on_retry():
    def respond(tickers, n):
        if n == 1:
            return pd.DataFrame()
        return yf_frame(["2024-01-05", "2024-01-08"], {"IREN": bars([7.0, 7.5])})

    download = FakeDownload(respond)
    result, sleeper = fetch(["IREN"], download)
    assert result.failed == {}
    assert rows_of(result.prices, "IREN")["close"].tolist() == [7.0, 7.5]
    assert len(download.calls) == 2
    assert len(sleeper.delays) == 1


def test_only_the_empty_ticker_is_retried():
    def respond(tickers, n):
        if n == 1:  # rate limit shows up as an all-NaN ticker inside a good frame
            return yf_frame(["2024-01-05"], {"MARA": bars([20.0]), "WULF": None})
        return yf_frame(["2024-01-05"], {"WULF": bars([4.0])})

    download = FakeDownload(respond)
    result, _ = fetch(["MARA", "WULF"], download)
    assert result.failed == {}
    assert download.requested == [["MARA", "WULF"], ["WULF"]]
    assert rows_of(result.prices, "WULF")["close"].tolist() == [4.0]
    assert rows_of(result.prices, "MARA")["close"].tolist() == [20.0]


def test_invalid_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        fetch(["MARA"], FakeDownload(lambda t, n: None), batch_size=0)
    with pytest.raises(ValueError, match="attempts"):
        fetch(["MARA"], FakeDownload(lambda t, n: None), retry=RetryPolicy(attempts=0))


# --------------------------------------------------------------------------- RetryPolicy


def test_retry_policy_delay_bounds():
    policy = RetryPolicy()
    rng = random.Random(1)
    for attempt in range(12):
        cap = min(30.0, 1.0 * 2**attempt)
        for _ in range(200):
            delay = policy.delay(attempt, rng)
            assert cap * 0.5 <= delay <= cap * 1.5
    assert RetryPolicy(jitter=0.0).delay(3, rng) == 8.0
    assert RetryPolicy(jitter=0.0).delay(20, rng) == 30.0  # capped at max_delay_s


def test_retry_policy_is_deterministic_for_a_seed():
    policy = RetryPolicy()
    first = [policy.delay(a, random.Random(5)) for a in range(4)]
    second = [policy.delay(a, random.Random(5)) for a in range(4)]
    assert first == second


# --------------------------------------------------------------------------- reachability


def test_yahoo_unreachable_when_connect_raises(monkeypatch):
    calls = []

    def refuse(address, timeout=None, **kwargs):
        calls.append((address, timeout))
        raise ConnectionRefusedError("refused")

    monkeypatch.setattr(socket, "create_connection", refuse)
    started = time.monotonic()
    assert yahoo_is_reachable(timeout_s=2.0) is False
    assert time.monotonic() - started < 1.0
    assert calls == [(("query1.finance.yahoo.com", 443), 2.0)]


def test_yahoo_unreachable_when_connect_hangs(monkeypatch):
    release = threading.Event()

    def hang(address, timeout=None, **kwargs):
        release.wait(10)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    started = time.monotonic()
    try:
        assert yahoo_is_reachable(timeout_s=0.2) is False
        assert time.monotonic() - started < 2.0
    finally:
        release.set()


def test_yahoo_reachable_when_connect_succeeds(monkeypatch):
    class FakeSocket:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(socket, "create_connection", lambda address, timeout=None: FakeSocket())
    assert yahoo_is_reachable(timeout_s=1.0) is True


# --------------------------------------------------------------------------- yfinance config


@pytest.mark.usefixtures("restore_yfinance_config")
def test_configure_yfinance_moves_caches_and_disables_retries(tmp_path):
    cache_dir = tmp_path / "cache" / "yfinance"
    yf.config.network.retries = 3
    configure_yfinance(cache_dir)
    assert cache_dir.is_dir()
    assert yf.cache._TzDBManager.get_location() == str(cache_dir)
    assert yf.cache._CookieDBManager.get_location() == str(cache_dir)
    assert yf.cache._ISINDBManager.get_location() == str(cache_dir)
    assert yf.config.network.retries == 0


# --------------------------------------------------------------------------- contract


@pytest.mark.usefixtures("restore_yfinance_config")
@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")
def test_contract_with_real_yfinance_download(monkeypatch, tmp_path):
    """Run the installed ``yfinance.download`` with only ``Ticker.history`` faked.

    Confirms the fakes above match what download really assembles, and that a rate limit
    inside download is swallowed into an all-NaN ticker (which we then retry).
    """
    configure_yfinance(tmp_path / "yf-cache")
    history_calls: list[str] = []

    def fake_history(self, **kwargs):
        history_calls.append(self.ticker)
        assert kwargs["auto_adjust"] is False
        if self.ticker == "WULF" and history_calls.count("WULF") == 1:
            raise YFRateLimitError()
        if self.ticker == "DEAD":
            return yf.utils.empty_df()
        if self.ticker == "BTC-USD":
            index = pd.DatetimeIndex(["2024-01-05", "2024-01-06", "2024-01-08"], tz="UTC")
        else:
            index = pd.DatetimeIndex(["2024-01-05", "2024-01-08"], tz="America/New_York")
        n = len(index)
        frame = pd.DataFrame(
            {
                "Open": [1.0] * n,
                "High": [2.0] * n,
                "Low": [0.5] * n,
                "Close": [1.5] * n,
                "Adj Close": [1.25] * n,
                "Volume": np.arange(100, 100 + n, dtype="int64"),
            },
            index=index.rename("Date"),
        )
        return frame

    monkeypatch.setattr(yf.Ticker, "history", fake_history)
    seen: list[pd.DataFrame] = []

    def spying_download(**kwargs):
        frame = yf.download(**kwargs)
        seen.append(frame)
        return frame

    result, _ = fetch(["mara", "BTC-USD", "DEAD", "WULF"], spying_download)

    first = seen[0]
    assert first.columns.names == ["Price", "Ticker"]
    tickers = ["BTC-USD", "DEAD", "MARA", "WULF"]
    assert list(first.columns) == [(f, t) for f in FIELDS for t in tickers]
    assert first.index.name == "Date"
    assert first.index.tz is None
    assert list(first.index) == [
        pd.Timestamp(d) for d in ["2024-01-05", "2024-01-06", "2024-01-08"]
    ]
    assert first[("Volume", "BTC-USD")].dtype == np.int64  # never padded
    assert first[("Volume", "MARA")].dtype == np.float64  # NaN-padded on Saturday
    assert first[("Close", "DEAD")].isna().all()
    assert first[("Close", "WULF")].isna().all()  # rate limit swallowed by download

    assert result.failed == {"DEAD": NO_ROWS_REASON}
    assert sorted(set(result.prices["ticker"])) == ["BTC-USD", "MARA", "WULF"]
    assert len(rows_of(result.prices, "BTC-USD")) == 3
    assert rows_of(result.prices, "MARA")["date"].tolist() == [
        pd.Timestamp("2024-01-05"),
        pd.Timestamp("2024-01-08"),
    ]
    assert rows_of(result.prices, "WULF")["adj_close"].tolist() == [1.25, 1.25]


def test_default_download_is_yfinance_download(monkeypatch):
    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        return yf_frame(["2024-01-05"], {"MARA": bars([20.0])})

    monkeypatch.setattr(yf, "download", fake)
    result = fetch_yfinance_prices(["MARA"], START, END, sleep=SleepRecorder())
    assert len(calls) == 1
    assert result.failed == {}
    assert yahoo.TRANSIENT_ERRORS  # sanity: the retry set is populated
