"""Ticker changes: a company whose symbol changed keeps its whole price history under the
current symbol.

``dbt_project/seeds/ticker_changes.csv`` lists each change (old symbol, new symbol, effective
date). Extraction asks sources for the current symbol only (Yahoo moves the whole history to
it), and a CSV folder may hold the history under any of the company's symbols: on a date that
several files hold, the file under the newer symbol wins.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

TICKER_CHANGES_FILE = "ticker_changes.csv"


@dataclass(frozen=True)
class TickerChange:
    old_ticker: str
    new_ticker: str
    effective_date: date


def ticker_changes_path(companies_seed: Path) -> Path:
    """The ticker changes seed beside the companies seed (the seeds folder)."""
    return Path(companies_seed).with_name(TICKER_CHANGES_FILE)


def load_ticker_changes(seed_path: Path) -> list[TickerChange]:
    """Read the seed (none when the file is missing), failing with the line of a bad row."""
    if not Path(seed_path).exists():
        return []
    changes: list[TickerChange] = []
    with Path(seed_path).open(newline="", encoding="utf-8") as handle:
        for line_number, row in enumerate(csv.DictReader(handle), start=2):
            old = (row.get("old_ticker") or "").strip().upper()
            new = (row.get("new_ticker") or "").strip().upper()
            where = f"{seed_path} line {line_number}"
            if not old or not new or old == new:
                raise ValueError(f"{where}: needs two different tickers, got {old!r} -> {new!r}")
            try:
                effective = date.fromisoformat((row.get("effective_date") or "").strip())
            except ValueError as error:
                raise ValueError(f"{where}: effective_date is not YYYY-MM-DD") from error
            changes.append(TickerChange(old, new, effective))
    current_symbols(changes)  # refuses cycles and a symbol renamed twice
    return changes


def current_symbols(changes: Iterable[TickerChange]) -> dict[str, str]:
    """Every retired symbol -> the company's current symbol, following chains (A -> B -> C)."""
    renamed: dict[str, str] = {}
    for change in changes:
        if change.old_ticker in renamed:
            raise ValueError(f"{change.old_ticker} is renamed twice")
        renamed[change.old_ticker] = change.new_ticker
    current: dict[str, str] = {}
    for old in renamed:
        symbol, seen = old, {old}
        while symbol in renamed:
            symbol = renamed[symbol]
            if symbol in seen:
                raise ValueError(f"ticker changes form a cycle through {symbol}")
            seen.add(symbol)
        current[old] = symbol
    return current


def former_symbols(changes: Iterable[TickerChange]) -> dict[str, list[str]]:
    """Current symbol -> its earlier symbols, newest first (the order in which they win)."""
    changes = list(changes)
    current = current_symbols(changes)
    retired_on = {change.old_ticker: change.effective_date for change in changes}
    former: dict[str, list[str]] = {}
    for old, new in current.items():
        former.setdefault(new, []).append(old)
    return {
        new: sorted(olds, key=lambda old: retired_on[old], reverse=True)
        for new, olds in former.items()
    }


def to_current(tickers: Iterable[str], current: Mapping[str, str]) -> list[str]:
    """The tickers with retired symbols replaced by current ones, de-duplicated and sorted."""
    return sorted({current.get(ticker, ticker) for ticker in tickers})
