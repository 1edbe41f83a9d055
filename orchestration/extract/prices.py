"""One price extraction, end to end: choose the source, let it fetch each ticker's window,
land the new and revised rows, and report what happened per ticker.

Pure of Dagster: the asset in ``assets.py`` only wires options in and metadata out, so every
behaviour here is tested by calling ``extract_prices`` directly. Sources live in
``sources/`` behind one interface; this module never asks which one it has.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from orchestration import settings
from orchestration.extract.landed import (
    landed_files,
    landed_sources,
    read_watermarks,
    remove_stale_temporary_files,
    set_aside_unreadable_files,
)
from orchestration.extract.landing import land_new_or_revised
from orchestration.extract.options import ExtractionError, ExtractionOptions
from orchestration.extract.retractions import (
    land_retractions,
    retract_demo_prices,
    retraction_files,
    retractions_sql_for_present,
)
from orchestration.extract.schema import DEMO_SOURCE, empty_price_frame
from orchestration.extract.scratch import (
    FETCHED_TABLE,
    count_fetched,
    register_windows,
    scratch_database,
)
from orchestration.extract.sources import PriceSource, YahooBoundary, open_source
from orchestration.extract.ticker_changes import load_ticker_changes, ticker_changes_path
from orchestration.extract.universe import Company, build_universe, load_companies
from orchestration.paths import DataPaths

log = logging.getLogger(__name__)

__all__ = ["ExtractionError", "ExtractionOptions", "ExtractionReport", "extract_prices"]


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
    # Keys the source no longer holds, retracted per ticker (extract/retractions.py), and the
    # retraction file this run wrote.
    rows_retracted_by_ticker: dict[str, int] = field(default_factory=dict)
    retraction_file: Path | None = None
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
    options: ExtractionOptions, source: PriceSource, companies_seed: Path
) -> tuple[list[Company], list[str]]:
    """The tickers of this run: the companies seed, plus with ``all`` every ticker the source
    lists (a file under a retired symbol counts as its company's current ticker)."""
    companies = load_companies(companies_seed)
    if options.universe == "seeds":
        return companies, []
    listed = source.list_tickers()
    if listed is None:
        return companies, [
            f"universe 'all' lists files or demo tickers; with {source.label} it is the seeds."
        ]
    return build_universe(companies, listed), []


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


def extract_prices(
    options: ExtractionOptions,
    *,
    paths: DataPaths,
    companies_seed: Path,
    run_id: str,
    fetched_at: datetime,
    is_reachable: Callable[[], bool] | None = None,
    download: Callable[..., pd.DataFrame] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> ExtractionReport:
    """Fetch, land the new and revised rows under ``paths.landing_prices``, and report.
    Raises ExtractionError when more than ``max_failed_share`` of the universe failed, after
    landing what succeeded.

    ``is_reachable``, ``download`` and ``sleep`` are the boundary to Yahoo (see
    ``sources.YahooBoundary``); tests replace them, production leaves them at None.
    """
    name, warnings = resolve_source(options, is_reachable or _yahoo_is_reachable)
    landing_dir = paths.landing_prices
    real_sources = sorted(landed_sources(landing_dir) - {DEMO_SOURCE})
    if name == DEMO_SOURCE and real_sources:
        # Synthetic and market prices never meet in one data dir.
        if options.source == "auto":
            report = ExtractionReport(
                run_id=run_id, requested_source=options.source, source="none", universe=[]
            )
            set_aside = _retract_demo_prices(paths, report, run_id, fetched_at)
            report.warnings.insert(
                0,
                "Yahoo Finance is unreachable and this data dir holds real prices "
                f"({', '.join(real_sources)}): nothing landed (demo prices never go into it)"
                + (
                    "; the marts are rebuilt without the demo prices set aside."
                    if set_aside
                    else "; the published marts stay as they were."
                ),
            )
            return report
        raise ExtractionError(
            f"--source demo refused: the data dir {paths.root} holds real prices "
            f"({', '.join(real_sources)}), and demo prices never go into it; give a demo run "
            "another --data-dir"
        )
    for leftover in remove_stale_temporary_files(landing_dir):
        log.warning("removed %s, left by a run killed while landing", leftover.name)
    damaged = set_aside_unreadable_files(landing_dir, paths.landing_damaged)
    warnings += [
        f"the landing file {path.name} could not be read; it was moved to {path.parent} and "
        "its prices are fetched again"
        for path in damaged
    ]
    source = open_source(
        name,
        options,
        ticker_changes=load_ticker_changes(ticker_changes_path(companies_seed)),
        csv_stamps_path=paths.csv_files_landed,
        yahoo=YahooBoundary(download, sleep, is_reachable, paths.yfinance_cache),
        # Files unchanged since their rows landed are read again when landed rows were lost.
        reread_unchanged=options.backfill or bool(damaged),
    )
    universe, universe_warnings = resolve_universe(options, source, companies_seed)
    retractions = retraction_files(paths.landing_retractions)
    landed_before = landed_files(landing_dir)
    watermarks = read_watermarks(
        landing_dir, demo=source.label == DEMO_SOURCE, retractions=retractions
    )
    windows = fetch_windows([company.ticker for company in universe], watermarks, options)
    windows = reach_back_to_pending(windows, _first_pending_dates(paths, landed_before))
    report = ExtractionReport(
        run_id=run_id,
        requested_source=options.source,
        source=source.label,
        universe=universe,
        warnings=warnings + universe_warnings,
    )
    # The run's rows live in a scratch DuckDB database from fetch to landing file: the diff
    # against what has landed and the write are set-based, whatever the batch size.
    try:
        with scratch_database(paths.landing_scratch) as connection:
            register_windows(connection, windows)
            fetched = source.fetch(connection, windows)
            # Streamed rows are not counted apart: that would cost a second pass over them.
            report.rows_fetched = count_fetched(connection) if fetched.streamed is None else None
            batch = land_new_or_revised(
                connection,
                landing_dir,
                price_source=source.label,
                run_id=run_id,
                fetched_at=fetched_at,
                streamed=fetched.streamed,
                retractions=retractions,
            )
            retracted = land_retractions(
                connection,
                landing_files=landed_before,
                retractions_dir=paths.landing_retractions,
                complete={
                    ticker: windows[ticker]
                    for ticker in fetched.complete - set(batch.unreadable)
                    if ticker in windows
                },
                present_sql=retractions_sql_for_present(
                    FETCHED_TABLE,
                    _streamed_keys(fetched.streamed_keys_sql, batch.replaced_streams),
                ),
                removed_tickers=_removed_tickers(options, source, universe, landed_before),
                price_source=source.label,
                run_id=run_id,
                fetched_at=fetched_at,
            )
    except duckdb.OutOfMemoryException as error:
        # Nothing landed (files are linked only once complete): a rerun with more memory
        # starts over.
        message = settings.out_of_memory_message("landing the prices (step landed_prices)", error)
        raise ExtractionError(message) from error
    report.rows_retracted_by_ticker = dict(retracted.rows_by_ticker)
    report.retraction_file = retracted.path
    if source.label != DEMO_SOURCE and (real_sources or batch.path is not None):
        _retract_demo_prices(paths, report, run_id, fetched_at)
    failed = {**fetched.failed, **batch.unreadable}
    report.failed = dict(sorted(failed.items()))
    report.unreadable = dict(sorted({**fetched.unreadable, **batch.unreadable}.items()))
    report.source_by_ticker = {t: source.label for t in windows if t not in report.failed}
    report.notes += source.after_landing(batch, report.failed)
    if retracted.rows:
        report.notes.append(
            f"retracted {retracted.rows} landed rows the source no longer holds ("
            + ", ".join(
                f"{ticker}: {count}" for ticker, count in list(retracted.rows_by_ticker.items())[:5]
            )
            + (", ..." if len(retracted.rows_by_ticker) > 5 else "")
            + f"), recorded in {retracted.path.name}"
        )
    if batch.path is not None:
        report.landing_files.append(batch.path)
        report.rows_landed_by_ticker = batch.rows_by_ticker
        report.first_date, report.last_date = batch.first_date, batch.last_date
        report.preview = batch.preview
    if report.failed_share > options.max_failed_share:
        raise ExtractionError(
            f"{len(report.failed)} of {len(universe)} tickers failed "
            f"({report.failed_share:.0%} > the allowed {options.max_failed_share:.0%}); "
            f"{report.rows_landed} rows of the others were landed. Failed: "
            + "; ".join(f"{ticker}: {reason}" for ticker, reason in report.failed.items())
        )
    return report


def _retract_demo_prices(
    paths: DataPaths, report: ExtractionReport, run_id: str, fetched_at: datetime
) -> bool:
    """The demo rule: a data dir that holds real prices counts no demo prices. Every current
    demo row is retracted at once (never ticker by ticker, so no mart mixes synthetic and market
    series); a data dir mixed by an earlier version recovers the same way. Says so in a warning
    line; returns whether anything was set aside."""
    if DEMO_SOURCE not in landed_sources(paths.landing_prices):
        return False  # the usual case: no scratch database for nothing to read
    with scratch_database(paths.landing_scratch) as connection:
        retracted = retract_demo_prices(
            connection,
            landing_files=landed_files(paths.landing_prices),
            retractions_dir=paths.landing_retractions,
            run_id=run_id,
            fetched_at=fetched_at,
        )
    if not retracted.rows:
        return False
    tickers = sorted(retracted.rows_by_ticker)
    for ticker, rows in retracted.rows_by_ticker.items():
        report.rows_retracted_by_ticker[ticker] = (
            report.rows_retracted_by_ticker.get(ticker, 0) + rows
        )
    report.warnings.append(
        f"set aside the demo prices of {len(tickers)} tickers ({retracted.rows} rows: "
        + ", ".join(tickers[:5])
        + (", ..." if len(tickers) > 5 else "")
        + "): this data dir holds real prices, and demo prices never count beside them; "
        f"recorded in {retracted.path.relative_to(paths.root)}"
    )
    return True


def reach_back_to_pending(
    windows: Mapping[str, date | None], first_pending: Mapping[str, date]
) -> dict[str, date | None]:
    """Each window reaches back to the ticker's first landed row the audit has not accepted
    yet: every pending row is compared with its source again, so a blocking row removed from
    (or fixed in) its source is retracted (or revised) however old it is."""
    return {
        ticker: start
        if start is None or ticker not in first_pending
        else min(start, first_pending[ticker])
        for ticker, start in windows.items()
    }


def _first_pending_dates(paths: DataPaths, landing_files: Sequence[Path]) -> dict[str, date]:
    """First date per ticker among the landing files the audit ledger has not accepted; none
    before the first audit (no ledger), when nothing is known pending."""
    if not landing_files or not paths.ledger.accepted.is_dir():
        return {}
    import duckdb

    from orchestration.quality.ledger import accepted_file_names

    accepted = accepted_file_names(paths.ledger)
    pending = [str(path) for path in landing_files if path.name not in accepted]
    if not pending:
        return {}
    with duckdb.connect() as connection:
        rows = connection.execute(
            "select ticker, min(date) from read_parquet($files) group by ticker",
            {"files": pending},
        ).fetchall()
    return dict(rows)


def _streamed_keys(keys_sql: str | None, replaced: frozenset[str]) -> str | None:
    """The streamed rows' keys, without the tickers whose rows landing replaced (those are in
    the fetched table now)."""
    if keys_sql is None or not replaced:
        return keys_sql
    tickers = ", ".join("'" + ticker.replace("'", "''") + "'" for ticker in sorted(replaced))
    return f"select * from ({keys_sql}) where ticker not in ({tickers})"


def _removed_tickers(
    options: ExtractionOptions,
    source: PriceSource,
    universe: Sequence[Company],
    landing_files: Sequence[Path],
) -> set[str]:
    """The tickers this source landed that it no longer lists (a removed file): their rows
    are retracted. A folder's listing is what it holds, so a file that is gone is gone whatever
    the run's universe; other sources' listings count with ``--universe all`` only. Curated
    tickers are in the universe whatever the source lists (without a file they fail, and keep
    their rows)."""
    listed = source.list_tickers()
    if not landing_files or listed is None:
        return set()
    if options.universe != "all" and not source.listing_is_what_it_holds:
        return set()
    import duckdb

    with duckdb.connect() as connection:
        rows = connection.execute(
            "select distinct ticker from read_parquet($files) where price_source = $source",
            {"files": [str(path) for path in landing_files], "source": source.label},
        ).fetchall()
    return {ticker for (ticker,) in rows} - set(listed) - {company.ticker for company in universe}


def _yahoo_is_reachable() -> bool:
    # yfinance (with curl_cffi) is imported only by runs that use Yahoo: it costs a second or
    # more of every demo or CSV run, and of every load of the code location.
    from orchestration.extract.sources import yahoo

    return yahoo.yahoo_is_reachable()
