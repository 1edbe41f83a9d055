"""Running the whole pipeline from tests: a `hashpivot run` in a subprocess, with an environment
free of the developer's HASHPIVOT_* and DAGSTER_* settings, generated exports to run it on, and a
fingerprint of what it published."""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from orchestration.extract.demo_source import generate_demo_prices
from orchestration.extract.universe import load_companies
from orchestration.paths import COMPANIES_SEED
from tests.conftest import PROJECT_ROOT


def clean_environ(project: Path = PROJECT_ROOT) -> dict[str, str]:
    """This process's environment without hashpivot's and Dagster's settings; a project copy
    goes first on PYTHONPATH so its orchestration package is the one imported."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HASHPIVOT_", "DAGSTER_"))}
    if project != PROJECT_ROOT:
        environ["PYTHONPATH"] = str(project)
    return environ


def hashpivot_command(data_dir: Path, *options: str) -> list[str]:
    """`hashpivot run` as `python -m orchestration.cli`, so a project copy's code runs."""
    return [sys.executable, "-m", "orchestration.cli", "run", "--data-dir", str(data_dir), *options]


def run_hashpivot(
    data_dir: Path, *options: str, project: Path = PROJECT_ROOT, timeout: int = 1200
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        hashpivot_command(data_dir, *options),
        cwd=project,
        env=clean_environ(project),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def published_fingerprint(published: Path) -> dict[str, str]:
    """SHA-256 of every published file (following the parquet symlink)."""
    files = [published / "marts.duckdb", *sorted((published / "parquet").glob("*.parquet"))]
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def write_generated_exports(
    csv_dir: Path, *, first_day: date = date(2024, 3, 1), last_day: date = date(2025, 3, 31)
) -> None:
    """Exports of every curated ticker in yfinance's history() CSV shape, from the demo source:
    the twin of the real sample exports for a clone without ../shared beside it."""
    csv_dir.mkdir(parents=True)
    tickers = [company.ticker for company in load_companies(COMPANIES_SEED)]
    prices = generate_demo_prices(tickers, first_day, last_day)
    for ticker, rows in prices.groupby("ticker"):
        with (csv_dir / f"{ticker}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"])
            for row in rows.itertuples():
                writer.writerow(
                    [
                        row.date.date(),
                        row.open,
                        row.high,
                        row.low,
                        row.close,
                        row.adj_close,
                        row.volume,
                    ]
                )
