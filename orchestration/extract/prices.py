"""One price extraction, end to end: choose the source, fetch each ticker's window, land the
new and revised rows, and report what happened per ticker.

Pure of Dagster: the asset in ``assets.py`` only wires options in and metadata out, so every
behaviour here is tested by calling ``extract_prices`` directly.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

from orchestration import settings
from orchestration.extract import csv_scan, csv_source, demo_source
from orchestration.extract.landing import (
    add_fetched_frame,
    count_fetched,
    land_new_or_revised,
    read_watermarks,
    register_windows,
    remove_stale_temporary_files,
    scratch_database,
)
from orchestration.extract.schema import empty_price_frame
from orchestration.extract.ticker_changes import (
    current_symbols,
    former_symbols,
    load_ticker_changes,
    ticker_changes_path,
    to_current,
)
from orchestration.extract.universe import Company, build_universe, load_companies

log = logging.getLogger(__name__)

SOURCES = settings.PRICE_SOURCE.choices
UNIVERSES = settings.UNIVERSE.choices
# yfinance and demo histories start here unless --start says otherwise; CSV files land whole.
DEFAULT_START = date(2020, 1, 1)
# The scratch database of a run's landing work, next to the landing folder (same disk).
SCRATCH_DIR_NAME = ".scratch"
# Size and modification time of each CSV file whose rows landed (next to the landing folder).
CSV_STAMPS_FILE_NAME = "csv_files_landed.json"


class ExtractionError(RuntimeError):
    """The run cannot go on (bad options) or too many tickers failed (after landing the rest)."""


@dataclass(frozen=True)
class ExtractionOptions:
    """What one extraction run does. Every field has a CLI option and an environment variable."""

    source: str = settings.PRICE_SOURCE.default
    csv_dir: Path | None = None
    start: date | None = None
    end: date | None = None
    universe: str = settings.UNIVERSE.default
    demo_tickers: int = settings.DEMO_TICKERS.default
    # Re-fetch this many calendar days before each ticker's watermark, to catch revisions.
    refetch_days: int = 7
    # Ignore watermarks and fetch everything from `start` (a backfill from the launchpad).
    backfill: bool = False
    max_failed_share: float = settings.MAX_FAILED_SHARE.default
    demo_seed: int = 42

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ExtractionError(f"source {self.source!r} is not one of {', '.join(SOURCES)}")
        if self.universe not in UNIVERSES:
            raise ExtractionError(
                f"universe {self.universe!r} is not one of {', '.join(UNIVERSES)}"
            )
        if self.source == "csv" and self.csv_dir is None:
            raise ExtractionError("source 'csv' needs a CSV dir (--csv-dir or HASHPIVOT_CSV_DIR)")
        if self.backfill and self.start is None:
            raise ExtractionError("a backfill needs a start date")
        if self.start and self.end and self.end < self.start:
            raise ExtractionError(f"end {self.end} is before start {self.start}")
        if not 0.0 <= self.max_failed_share <= 1.0:
            raise ExtractionError(f"max_failed_share {self.max_failed_share} is not in [0, 1]")
        if self.refetch_days < 0 or self.demo_tickers < 0:
            raise ExtractionError("refetch_days and demo_tickers cannot be negative")


@dataclass
class ExtractionReport:
    """What a run did, for the asset metadata and the CLI summary."""

    run_id: str
    requested_source: str
    source: str
    universe: list[Company]
    source_by_ticker: dict[str, str] = field(default_factory=dict)
    rows_landed_by_ticker: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    # The failures that are bad input (a file that exists but cannot be read), not absence.
    unreadable: dict[str, str] = field(default_factory=dict)
    landing_files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # How the source was read (CSV files scanned, parsed one by one, unchanged).
    notes: list[str] = field(default_factory=list)
    # Rows read inside the fetch windows; None for a CSV folder, whose files are streamed.
    rows_fetched: int | None = 0
    first_date: date | None = None
    last_date: date | None = None
    preview: pd.DataFrame = field(default_factory=empty_price_frame)

    @property
    def rows_landed(self) -> int:
        return sum(self.rows_landed_by_ticker.values())

    @property
    def failed_share(self) -> float:
        return len(self.failed) / len(self.universe) if self.universe else 0.0


@dataclass
class FetchResult:
    prices: pd.DataFrame
    failed: dict[str, str]


def resolve_source(
    options: ExtractionOptions, is_reachable: Callable[[], bool]
) -> tuple[str, list[str]]:
    """The source this run uses, and warnings to show. Reachability is asked at most once."""
    if options.source != "auto":
        return options.source, []
    if is_reachable():
        return "yfinance", []
    fallback = "csv" if options.csv_dir is not None else "demo"
    detail = f"the CSV dir {options.csv_dir}" if fallback == "csv" else "SYNTHETIC DEMO prices"
    return fallback, [f"Yahoo Finance is unreachable: source 'auto' fell back to {detail}."]


def resolve_universe(
    options: ExtractionOptions, source: str, companies_seed: Path
) -> tuple[list[Company], list[str]]:
    """The tickers of this run: the companies seed, plus with ``all`` the source's whole list
    (a file under a retired symbol counts as its company's current ticker)."""
    companies = load_companies(companies_seed)
    if options.universe == "seeds":
        return companies, []
    if source == "csv":
        assert options.csv_dir is not None
        renamed = current_symbols(load_ticker_changes(ticker_changes_path(companies_seed)))
        # Every ticker with a file, duplicates too: the scan fails a duplicated ticker alone.
        files = csv_source.group_price_files(options.csv_dir)
        return build_universe(companies, to_current(files, renamed)), []
    if source == "demo":
        extra = demo_source.demo_ticker_names(options.demo_tickers)
        return build_universe(companies, extra), []
    return companies, ["universe 'all' lists files or demo tickers; with yfinance it is the seeds."]


def fetch_windows(
    tickers: Sequence[str], watermarks: Mapping[str, date], options: ExtractionOptions
) -> dict[str, date | None]:
    """First date to fetch per ticker: the watermark minus the re-fetch days, else the start.

    ``None`` means "everything the source has" (a CSV file with no --start).
    """
    windows: dict[str, date | None] = {}
    for ticker in tickers:
        watermark = watermarks.get(ticker)
        if options.backfill or watermark is None:
            windows[ticker] = options.start
        else:
            refetch_from = watermark - timedelta(days=options.refetch_days)
            windows[ticker] = max(refetch_from, options.start) if options.start else refetch_from
    return windows


def fetch_prices(
    source: str,
    windows: Mapping[str, date | None],
    options: ExtractionOptions,
    *,
    download: Callable[..., pd.DataFrame] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchResult:
    """Fetch each ticker's window from the demo generator or Yahoo, tickers grouped by window
    start. (A CSV folder is read by csv_scan.scan_price_folder instead.)

    ``download`` and ``sleep`` are the boundary to Yahoo (yfinance.download and the backoff's
    sleep); tests replace them, production leaves them at their defaults.
    """
    end = options.end or date.today()
    frames, failed = [], {}
    for window_start, tickers in _group_by_start(windows).items():
        start = window_start or DEFAULT_START
        if source == "demo":
            frames.append(demo_source.generate_demo_prices(tickers, start, end, options.demo_seed))
        else:
            from orchestration.extract import yfinance_source  # see _yahoo_is_reachable

            result = yfinance_source.fetch_yfinance_prices(
                tickers, start, end + timedelta(days=1), download=download, sleep=sleep
            )
            frames.append(result.prices)
            failed.update(result.failed)
    prices = pd.concat(frames, ignore_index=True) if frames else empty_price_frame()
    return FetchResult(prices, failed)


def extract_prices(
    options: ExtractionOptions,
    *,
    landing_dir: Path,
    companies_seed: Path,
    run_id: str,
    fetched_at: datetime,
    is_reachable: Callable[[], bool] | None = None,
    download: Callable[..., pd.DataFrame] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    yfinance_cache: Path | None = None,
) -> ExtractionReport:
    """Fetch, land the new and revised rows, and report. Raises ExtractionError when more than
    ``max_failed_share`` of the universe failed, after landing what succeeded.

    ``yfinance_cache`` is where yfinance keeps its caches, set up only when Yahoo is used.
    """
    source, warnings = resolve_source(options, is_reachable or _yahoo_is_reachable)
    if source == "yfinance" and yfinance_cache is not None:
        from orchestration.extract import yfinance_source

        yfinance_source.configure_yfinance(yfinance_cache)
    universe, universe_warnings = resolve_universe(options, source, companies_seed)
    tickers = [company.ticker for company in universe]
    for leftover in remove_stale_temporary_files(landing_dir):
        log.warning("removed %s, left by a run killed while landing", leftover.name)

    watermarks = read_watermarks(landing_dir, demo=source == demo_source.DEMO_SOURCE)
    windows = fetch_windows(tickers, watermarks, options)
    report = ExtractionReport(
        run_id=run_id,
        requested_source=options.source,
        source=source,
        universe=universe,
        warnings=warnings + universe_warnings,
    )
    # The run's rows live in a scratch DuckDB database from fetch to landing file: the diff
    # against what has landed and the write are set-based, whatever the batch size.
    with scratch_database(landing_dir.parent / SCRATCH_DIR_NAME) as connection:
        register_windows(connection, windows)
        streamed = None
        if source == "csv":
            assert options.csv_dir is not None
            # A backfill reads every file again; otherwise files unchanged since their rows
            # landed are skipped.
            stamps_path = landing_dir.parent / CSV_STAMPS_FILE_NAME
            landed_stamps = {} if options.backfill else csv_scan.read_landed_stamps(stamps_path)
            changes = load_ticker_changes(ticker_changes_path(companies_seed))
            scan = csv_scan.scan_price_folder(
                connection,
                options.csv_dir,
                windows,
                source,
                landed_stamps,
                former_symbols=former_symbols(changes),
            )
            streamed = scan.streamed
        else:
            fetched = fetch_prices(source, windows, options, download=download, sleep=sleep)
            add_fetched_frame(connection, fetched.prices, source)
        # Streamed CSV rows are not counted apart: that would cost a second pass over them.
        report.rows_fetched = count_fetched(connection) if streamed is None else None
        batch = land_new_or_revised(
            connection,
            landing_dir,
            price_source=source,
            run_id=run_id,
            fetched_at=fetched_at,
            streamed=streamed,
        )
        if source == "csv":
            failed, unreadable = scan.failed, scan.unreadable
            report.notes += scan.notes()
            # Only now that the rows are landed are their files known landed.
            csv_scan.write_landed_stamps(stamps_path, scan.landed_stamps())
        else:
            failed, unreadable = fetched.failed, {}
        report.failed = dict(sorted(failed.items()))
        report.unreadable = dict(sorted(unreadable.items()))
        report.source_by_ticker = {t: source for t in windows if t not in report.failed}
    if batch.path is not None:
        report.landing_files.append(batch.path)
        report.rows_landed_by_ticker = batch.rows_by_ticker
        report.first_date, report.last_date = batch.first_date, batch.last_date
        report.preview = batch.preview
    # yfinance reports an unreachable Yahoo as every ticker "possibly delisted": when nothing
    # came back at all, ask once whether Yahoo can be reached, and say so.
    nothing_fetched = source == "yfinance" and report.failed and not report.source_by_ticker
    if nothing_fetched and not (is_reachable or _yahoo_is_reachable)():
        raise ExtractionError(
            "Yahoo Finance is unreachable from this machine (no connection to "
            "query1.finance.yahoo.com:443), so no ticker was fetched. Check the network "
            "or proxy, or run with --source csv --csv-dir DIR (exports) or --source demo."
        )
    if report.failed_share > options.max_failed_share:
        raise ExtractionError(
            f"{len(report.failed)} of {len(universe)} tickers failed "
            f"({report.failed_share:.0%} > the allowed {options.max_failed_share:.0%}); "
            f"{report.rows_landed} rows of the others were landed. Failed: "
            + "; ".join(f"{ticker}: {reason}" for ticker, reason in report.failed.items())
        )
    return report


def _yahoo_is_reachable() -> bool:
    # yfinance (with curl_cffi) is imported only by runs that use Yahoo: it costs a second or
    # more of every demo or CSV run, and of every load of the code location.
    from orchestration.extract import yfinance_source

    return yfinance_source.yahoo_is_reachable()


def _group_by_start(windows: Mapping[str, date | None]) -> dict[date | None, list[str]]:
    groups: dict[date | None, list[str]] = defaultdict(list)
    for ticker, start in windows.items():
        groups[start].append(ticker)
    return dict(groups)
