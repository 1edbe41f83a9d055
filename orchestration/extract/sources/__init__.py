"""Price sources behind one interface: the labelled demo generator, Yahoo Finance (yfinance)
and a folder of CSV exports.

A source fills the run's scratch database (``scratch.FETCHED_TABLE``, or rows it streams to
the landing step) for the fetch windows it is given, and says what it fetched and what failed.
Landing is the next step and knows nothing of sources; ``after_landing`` lets a source record
what it needs once its rows are safely landed (the CSV folder's file stamps).

To add a source: a module here with a class following ``PriceSource``, a branch in
``open_source``, and its name in ``settings.PRICE_SOURCE.choices``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import duckdb
import pandas as pd

from orchestration.extract.options import (
    DEFAULT_START,
    ExtractionError,
    ExtractionOptions,
)
from orchestration.extract.ticker_changes import TickerChange

if TYPE_CHECKING:
    from orchestration.extract.landing import LandedBatch, StreamedRows


@dataclass
class SourceFetch:
    """What a source put in the scratch database, and which tickers it could not give."""

    # ticker -> why it has no rows (absent, unreadable, not returned by Yahoo...).
    failed: dict[str, str] = field(default_factory=dict)
    # The failures that are bad input (a file that exists but cannot be read), not absence.
    unreadable: dict[str, str] = field(default_factory=dict)
    # Rows the landing step streams from the source instead of the fetched table.
    streamed: StreamedRows | None = None
    # Tickers whose fetch windows the source read whole (the CSV files read this run): a key
    # landed earlier by this source inside the window and absent now was removed from the
    # source, and is retracted (``extract/retractions.py``). Sources that can miss rows
    # (Yahoo) leave it empty.
    complete: set[str] = field(default_factory=set)
    # SELECT of the (ticker, date) keys of the streamed rows (beyond the fetched table).
    streamed_keys_sql: str | None = None


class PriceSource(Protocol):
    # The price_source written on every landed row of this source.
    label: str
    # True when list_tickers is what the source holds (a folder's files), so a landed ticker
    # it no longer lists is gone whatever the run's universe; False when the listing depends
    # on the run's options (the demo's ticker count).
    listing_is_what_it_holds: bool

    def list_tickers(self) -> list[str] | None:
        """Every ticker the source can give (for ``--universe all``), under current symbols;
        None when it cannot list them (Yahoo)."""
        ...

    def fetch(
        self, connection: duckdb.DuckDBPyConnection, windows: Mapping[str, date | None]
    ) -> SourceFetch:
        """Fill the scratch database with each ticker's rows from its window start (None:
        everything the source has) to the run's end."""
        ...

    def after_landing(self, batch: LandedBatch, failed: Collection[str]) -> list[str]:
        """Called once the fetched rows are landed (``failed``: every failed ticker); returns
        notes on how the source was read, for the run's report."""
        ...


@dataclass(frozen=True)
class YahooBoundary:
    """The calls to Yahoo that tests replace: ``yfinance.download``, the backoff's sleep and
    the reachability probe. Production leaves the defaults (None: the real ones)."""

    download: Callable[..., pd.DataFrame] | None = None
    sleep: Callable[[float], None] | None = None
    is_reachable: Callable[[], bool] | None = None
    cache_dir: Path | None = None


def open_source(
    name: str,
    options: ExtractionOptions,
    *,
    ticker_changes: Sequence[TickerChange],
    csv_stamps_path: Path,
    yahoo: YahooBoundary,
    reread_unchanged: bool = False,
) -> PriceSource:
    """The source called ``name`` (not ``auto``: resolve it first), set up for this run."""
    if name == "demo":
        from orchestration.extract.sources.demo import DemoSource

        return DemoSource(
            demo_tickers=options.demo_tickers, seed=options.demo_seed, end=options.end
        )
    if name == "csv":
        from orchestration.extract.sources.csv_folder import CsvFolderSource

        if options.csv_dir is None:
            raise ExtractionError("source 'csv' needs a CSV dir (--csv-dir or HASHPIVOT_CSV_DIR)")
        return CsvFolderSource(
            options.csv_dir,
            ticker_changes=ticker_changes,
            stamps_path=csv_stamps_path,
            reread_unchanged=reread_unchanged,
        )
    if name == "yfinance":
        # yfinance (with curl_cffi) is imported only by runs that use Yahoo: it costs a second
        # or more of every demo or CSV run, and of every load of the code location.
        from orchestration.extract.sources.yahoo import YahooSource

        return YahooSource(end=options.end, boundary=yahoo)
    raise ExtractionError(f"no price source called {name!r}")


def windows_by_start(
    windows: Mapping[str, date | None], default_start: date = DEFAULT_START
) -> dict[date, list[str]]:
    """Tickers grouped by window start (None: ``default_start``), for sources that fetch many
    tickers per call."""
    groups: dict[date, list[str]] = {}
    for ticker, start in windows.items():
        groups.setdefault(start or default_start, []).append(ticker)
    return groups
