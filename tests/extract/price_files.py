"""Small helpers the CSV tests share: write a file byte for byte, the expected frame, and the
data lines of a file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from orchestration.extract.schema import PRICE_COLUMNS, normalize_price_frame


def write(directory: Path, name: str, text: str) -> Path:
    """A CSV file with exactly this text (no newline translation)."""
    path = directory / name
    path.write_bytes(text.encode("utf-8"))
    return path


def expected_frame(ticker: str, rows: list[tuple[object, ...]]) -> pd.DataFrame:
    """The standard frame for rows of (date, open, high, low, close, adj_close, volume)."""
    frame = pd.DataFrame(rows, columns=PRICE_COLUMNS[1:])
    frame.insert(0, "ticker", ticker)
    return normalize_price_frame(frame)


def data_line_count(path: Path) -> int:
    """Non-blank lines after the header line."""
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines()[1:] if line.strip())
