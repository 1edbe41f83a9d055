"""What one extraction run is asked to do, and the error that stops it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from orchestration import settings

SOURCES = settings.PRICE_SOURCE.choices
UNIVERSES = settings.UNIVERSE.choices
# yfinance and demo histories start here unless --start says otherwise; CSV files land whole.
DEFAULT_START = date(2020, 1, 1)


class ExtractionError(RuntimeError):
    """The run cannot go on (bad options, no source) or too many tickers failed (after landing
    the rest)."""


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
