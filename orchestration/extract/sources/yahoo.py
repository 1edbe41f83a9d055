"""Daily prices from Yahoo Finance through ``yfinance.download`` (yfinance 1.7).

``yfinance.download`` is the mock boundary: tests inject a fake ``download`` returning frames
of exactly yfinance 1.7's shape, and nothing here touches the network at import time.

What yfinance 1.7's ``download(..., group_by="column", multi_level_index=True)`` returns (read
from ``yfinance/multi.py``): one ``Ticker.history()`` frame per symbol, concatenated on a
union DatetimeIndex named ``Date`` (tz-naive for daily data), columns a MultiIndex named
``['Price', 'Ticker']`` sorted by field then ticker. Symbols are upper-cased and de-duplicated.
A symbol whose fetch failed (delisted, wrong symbol, rate limited) is *not* raised: it appears
as all-NaN columns, and every other symbol is NaN-padded on dates only some symbols traded
(BTC-USD weekends vs equities), which also turns its int64 ``Volume`` into float64. With every
symbol failed the frame has zero rows.

So we validate per ticker, retry the tickers that came back empty (rate limits mostly look like
that), and retry whole batches when ``download`` does raise (network errors).
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import yfinance as yf
from yfinance.exceptions import YFRateLimitError

from orchestration.extract.options import ExtractionError
from orchestration.extract.schema import PRICE_COLUMNS, empty_price_frame, normalize_price_frame
from orchestration.extract.scratch import add_fetched_frame
from orchestration.extract.sources import SourceFetch, YahooBoundary, windows_by_start

if TYPE_CHECKING:
    import duckdb

    from orchestration.extract.landing import LandedBatch

logger = logging.getLogger(__name__)

YAHOO_HOST = "query1.finance.yahoo.com"
YAHOO_PORT = 443

NO_ROWS_REASON = "no rows returned by Yahoo (delisted, wrong symbol, or rate-limited)"

# yfinance field name -> standard column.
_FIELD_TO_COLUMN: dict[str, str] = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}
_FIELDS = frozenset(_FIELD_TO_COLUMN)


def _transient_errors() -> tuple[type[BaseException], ...]:
    """Exceptions worth retrying: rate limits and network failures.

    ``OSError`` covers ``TimeoutError``, ``ConnectionError``, ``requests``' RequestException and
    curl_cffi's ``requests.exceptions.RequestException``; curl_cffi's bare ``CurlError`` is not
    an OSError, so it is added when importable.
    """
    errors: list[type[BaseException]] = [YFRateLimitError, OSError]
    try:
        from curl_cffi import CurlError

        errors.append(CurlError)
    except ImportError:  # pragma: no cover - curl_cffi is a hard dependency of yfinance 1.7
        pass
    return tuple(errors)


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = _transient_errors()


@dataclass(frozen=True)
class RetryPolicy:
    """How often to call ``download`` per batch, and how long to wait between calls.

    ``attempts`` is the total number of calls per batch (first call included).
    """

    attempts: int = 4
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based): capped exponential
        backoff, scaled by a random factor in ``[1 - jitter, 1 + jitter]``."""
        backoff = min(self.max_delay_s, self.base_delay_s * 2**attempt)
        return max(0.0, backoff * (1 + rng.uniform(-self.jitter, self.jitter)))


@dataclass
class YFinanceResult:
    """Standard price frame (``schema.PRICE_COLUMNS``) plus the tickers that got no data."""

    prices: pd.DataFrame
    failed: dict[str, str] = field(default_factory=dict)


def yahoo_is_reachable(timeout_s: float = 3.0) -> bool:
    """One quick TCP connect to Yahoo's query host; ``False`` on any error, never raises.

    The connect runs in a daemon thread so a slow DNS lookup (which ignores socket timeouts)
    cannot stretch the check past ``timeout_s``.
    """
    outcome: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((YAHOO_HOST, YAHOO_PORT), timeout=timeout_s):
                outcome.append(True)
        except Exception as exc:
            logger.info("Yahoo unreachable: %s", exc)
            outcome.append(False)

    try:
        thread = threading.Thread(target=probe, name="yahoo-reachability", daemon=True)
        thread.start()
        thread.join(timeout_s)
    except Exception as exc:  # pragma: no cover - thread creation failing is exotic
        logger.info("Yahoo reachability check failed: %s", exc)
        return False
    return bool(outcome) and outcome[0]


def configure_yfinance(cache_dir: Path) -> None:
    """Keep yfinance's on-disk caches under ``cache_dir`` and its own retries off.

    In 1.7 ``set_tz_cache_location`` moves all three sqlite caches (``tkr-tz.db``,
    ``cookies.db``, ``isin-tkr.db``); there is no separate cookie setter. Call it before the
    first fetch. Retries are ours (``RetryPolicy``), so ``yf.config.network.retries`` stays 0.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    yf.set_tz_cache_location(str(cache_dir))
    yf.config.network.retries = 0


def fetch_yfinance_prices(
    tickers: Sequence[str],
    start: date,
    end: date | None = None,
    *,
    download: Callable[..., pd.DataFrame] | None = None,
    retry: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    batch_size: int = 50,
) -> YFinanceResult:
    """Daily OHLCV + Adj Close for ``tickers`` from ``start`` (inclusive) to ``end`` (exclusive).

    Tickers are upper-cased and de-duplicated (yfinance does the same to its column labels).
    Each batch of ``batch_size`` tickers is fetched with up to ``retry.attempts`` calls: a call
    that raises a transient error is retried for the whole batch; tickers that come back
    missing or all-NaN are retried alone. What is still missing afterwards lands in ``failed``
    with a reason; other batches are unaffected.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if retry.attempts < 1:
        raise ValueError(f"retry.attempts must be >= 1, got {retry.attempts}")
    download_fn = download if download is not None else _yfinance_download
    rng = rng if rng is not None else random.Random()
    wanted = _normalize_tickers(tickers)
    start_s = start.isoformat()
    end_s = end.isoformat() if end is not None else None

    frames: list[pd.DataFrame] = []
    failed: dict[str, str] = {}
    for batch in _batches(wanted, batch_size):
        batch_frames, batch_failed = _fetch_batch(
            batch, start_s, end_s, download_fn, retry, sleep, rng
        )
        frames.extend(batch_frames)
        failed.update(batch_failed)

    if failed:
        logger.warning("yfinance: %d of %d tickers failed: %s", len(failed), len(wanted), failed)
    if not frames:
        return YFinanceResult(prices=empty_price_frame(), failed=failed)
    prices = normalize_price_frame(pd.concat(frames, ignore_index=True))
    return YFinanceResult(prices=prices, failed=failed)


class YahooSource:
    """Yahoo Finance as a price source: one ``download`` per batch of tickers sharing a window
    start, through the boundary tests replace."""

    label = "yfinance"
    listing_is_what_it_holds = False

    def __init__(self, *, end: date | None, boundary: YahooBoundary) -> None:
        self.end = end or date.today()
        self.boundary = boundary

    def list_tickers(self) -> None:
        return None  # Yahoo has no list of every symbol: the universe is the seeds.

    def fetch(
        self, connection: duckdb.DuckDBPyConnection, windows: Mapping[str, date | None]
    ) -> SourceFetch:
        if self.boundary.cache_dir is not None:
            configure_yfinance(self.boundary.cache_dir)
        fetch = SourceFetch()
        for start, tickers in windows_by_start(windows).items():
            result = fetch_yfinance_prices(
                tickers,
                start,
                # yfinance's end is exclusive.
                self.end + timedelta(days=1),
                download=self.boundary.download,
                sleep=self.boundary.sleep or time.sleep,
            )
            add_fetched_frame(connection, result.prices, self.label)
            fetch.failed.update(result.failed)
        # yfinance reports an unreachable Yahoo as every ticker "possibly delisted": when
        # nothing came back at all, ask once whether Yahoo can be reached, and say so.
        is_reachable = self.boundary.is_reachable or yahoo_is_reachable
        if windows and set(fetch.failed) >= set(windows) and not is_reachable():
            raise ExtractionError(
                "Yahoo Finance is unreachable from this machine (no connection to "
                f"{YAHOO_HOST}:{YAHOO_PORT}), so no ticker was fetched. Check the network "
                "or proxy, or run with --source csv --csv-dir DIR (exports) or --source demo."
            )
        return fetch

    def after_landing(self, batch: LandedBatch, failed: Collection[str]) -> list[str]:
        return []


def _yfinance_download(**kwargs: object) -> pd.DataFrame:
    # Looked up at call time so monkeypatching ``yfinance.download`` also works.
    return yf.download(**kwargs)


def _normalize_tickers(tickers: Sequence[str]) -> list[str]:
    if isinstance(tickers, str):
        tickers = [tickers]
    seen: dict[str, None] = {}
    for ticker in tickers:
        symbol = str(ticker).strip().upper()
        if symbol:
            seen.setdefault(symbol, None)
    return list(seen)


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for offset in range(0, len(items), size):
        yield items[offset : offset + size]


def _fetch_batch(
    batch: list[str],
    start: str,
    end: str | None,
    download: Callable[..., pd.DataFrame],
    retry: RetryPolicy,
    sleep: Callable[[float], None],
    rng: random.Random,
) -> tuple[list[pd.DataFrame], dict[str, str]]:
    """Fetch one batch; returns per-ticker long frames and ``{ticker: reason}`` failures."""
    pending = list(batch)
    reasons: dict[str, str] = {}
    frames: list[pd.DataFrame] = []

    for attempt in range(retry.attempts):
        if not pending:
            break
        if attempt > 0:
            wait = retry.delay(attempt - 1, rng)
            logger.info(
                "yfinance: retry %d/%d for %d tickers in %.1fs",
                attempt,
                retry.attempts - 1,
                len(pending),
                wait,
            )
            sleep(wait)
        try:
            raw = download(
                tickers=list(pending),
                start=start,
                end=end,
                auto_adjust=False,
                actions=False,
                threads=True,
                progress=False,
                timeout=10,
                multi_level_index=True,
                group_by="column",
            )
        except TRANSIENT_ERRORS as exc:
            reason = _error_text(exc)
            logger.warning("yfinance download raised (attempt %d): %s", attempt + 1, reason)
            reasons.update(dict.fromkeys(pending, reason))
            continue
        except Exception as exc:
            # Not a network/rate-limit problem: retrying will not help. Fail this batch only.
            reason = _error_text(exc)
            logger.exception("yfinance download failed for %s", pending)
            reasons.update(dict.fromkeys(pending, reason))
            break

        by_ticker = _split_download(raw, pending)
        still_pending: list[str] = []
        for ticker in pending:
            rows = by_ticker.get(ticker)
            if rows is None or rows.empty:
                reasons[ticker] = NO_ROWS_REASON
                still_pending.append(ticker)
            else:
                frames.append(rows)
        pending = still_pending

    return frames, {ticker: reasons.get(ticker, NO_ROWS_REASON) for ticker in pending}


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _split_download(raw: pd.DataFrame | None, requested: list[str]) -> dict[str, pd.DataFrame]:
    """Long rows (``PRICE_COLUMNS``) per requested ticker that has any non-NaN close.

    Tickers with missing columns, zero rows or an all-NaN close are simply absent.
    """
    if raw is None or not isinstance(raw, pd.DataFrame) or raw.empty:
        return {}
    dates = _dates(raw.index)

    if not isinstance(raw.columns, pd.MultiIndex):
        # Older yfinance (or multi_level_index=False) for a single symbol: plain field columns.
        if len(requested) != 1:
            logger.warning(
                "yfinance returned single-level columns for %d tickers; ignoring", len(requested)
            )
            return {}
        fields = {str(column): raw[column] for column in raw.columns if column in _FIELDS}
        rows = _long_rows(requested[0], dates, fields)
        return {requested[0]: rows} if rows is not None else {}

    field_level, ticker_level = _levels(raw.columns)
    if field_level is None:
        logger.warning("yfinance columns have no field level: %s", raw.columns.names)
        return {}
    # Upper-case mapping, in case a caller's fake (or a future yfinance) keeps the input case.
    labels = {str(label).upper(): label for label in raw.columns.get_level_values(ticker_level)}
    result: dict[str, pd.DataFrame] = {}
    for ticker in requested:
        label = labels.get(ticker)
        if label is None:
            continue
        sub = raw.xs(label, axis=1, level=ticker_level)
        fields = {str(column): sub[column] for column in sub.columns if column in _FIELDS}
        rows = _long_rows(ticker, dates, fields)
        if rows is not None:
            result[ticker] = rows
    return result


def _levels(columns: pd.MultiIndex) -> tuple[int | None, int]:
    """(field level, ticker level) of a two-level column index.

    By name first (``Price``/``Ticker``), else the level whose labels are all yfinance field
    names (exact case, so tickers such as ``OPEN`` or ``LOW`` are not taken for fields).
    """
    if columns.nlevels != 2:
        return None, 0
    names = list(columns.names)
    if "Price" in names and "Ticker" in names:
        return names.index("Price"), names.index("Ticker")
    for level in (0, 1):
        values = {str(value) for value in columns.get_level_values(level)}
        if values and values <= _FIELDS:
            return level, 1 - level
    return None, 0


def _dates(index: pd.Index) -> pd.DatetimeIndex:
    dates = pd.DatetimeIndex(pd.to_datetime(index))
    if dates.tz is not None:
        # Keep the exchange-local wall date (what download(ignore_tz=True) does for daily bars).
        dates = dates.tz_localize(None)
    return dates.normalize()


def _long_rows(
    ticker: str, dates: pd.DatetimeIndex, fields: dict[str, pd.Series | pd.DataFrame]
) -> pd.DataFrame | None:
    if "Close" not in fields:
        return None
    data: dict[str, object] = {"ticker": ticker, "date": dates}
    for source, column in _FIELD_TO_COLUMN.items():
        values = fields.get(source)
        if isinstance(values, pd.DataFrame):  # duplicated column labels: take the first
            values = values.iloc[:, 0]
        data[column] = (
            pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
            if values is not None
            else float("nan")
        )
    rows = pd.DataFrame(data, columns=PRICE_COLUMNS)
    rows = rows[rows["close"].notna()].reset_index(drop=True)
    return rows if not rows.empty else None
