"""The ticker universe: the curated companies seed, optionally extended to a whole folder.

``dbt_project/seeds/companies.csv`` is the one list of tickers the product is about. With
``--universe all`` every other ticker found in the source (a CSV file, a synthetic demo ticker)
joins with segment ``other``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SEGMENTS = frozenset({"bitcoin_miner", "hyperscaler", "ai_infrastructure", "benchmark", "crypto"})
OTHER_SEGMENT = "other"


@dataclass(frozen=True)
class Company:
    ticker: str
    name: str
    segment: str


def load_companies(seed_path: Path) -> list[Company]:
    """Read the companies seed, failing with the file and line of any malformed row."""
    companies: list[Company] = []
    seen: dict[str, int] = {}
    with seed_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for line_number, row in enumerate(reader, start=2):
            ticker = (row.get("ticker") or "").strip().upper()
            segment = (row.get("segment") or "").strip()
            where = f"{seed_path} line {line_number}"
            if not ticker:
                raise ValueError(f"{where}: empty ticker")
            if segment not in SEGMENTS:
                raise ValueError(
                    f"{where}: segment {segment!r} of {ticker} is not one of {sorted(SEGMENTS)}"
                )
            if ticker in seen:
                raise ValueError(f"{where}: ticker {ticker} already on line {seen[ticker]}")
            seen[ticker] = line_number
            companies.append(Company(ticker, (row.get("name") or "").strip(), segment))
    if not companies:
        raise ValueError(f"{seed_path}: no companies")
    return companies


def build_universe(
    companies: Iterable[Company], extra_tickers: Iterable[str] = ()
) -> list[Company]:
    """Curated companies first, then any extra ticker not in the seed, as segment ``other``."""
    universe = list(companies)
    known = {company.ticker for company in universe}
    for ticker in sorted(set(extra_tickers) - known):
        universe.append(Company(ticker, ticker, OTHER_SEGMENT))
    return universe
