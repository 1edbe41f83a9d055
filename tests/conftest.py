"""Shared fixtures. No test may reach the network: Yahoo is mocked at our extractor's boundary."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PRICES_DIR = PROJECT_ROOT.parent / "shared" / "data" / "sample_prices"
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def sample_prices_dir() -> Path:
    """The real yfinance exports in ../shared, read in place (never copied into the project)."""
    if not SAMPLE_PRICES_DIR.is_dir():
        pytest.skip(f"{SAMPLE_PRICES_DIR} is not there (../shared beside the checkout)")
    return SAMPLE_PRICES_DIR


@pytest.fixture
def small_companies_seed(tmp_path: Path) -> Path:
    """A three-company seed: an equity, a crypto pair and a benchmark."""
    seed = tmp_path / "companies.csv"
    seed.write_text(
        "ticker,name,segment,listing_notes,source_url,as_of_date\n"
        "IREN,IREN Ltd,bitcoin_miner,,https://iren.com,2026-11-27\n"
        "BTC-USD,Bitcoin,crypto,,https://bitcoin.org,2026-11-27\n"
        "QQQ,Invesco QQQ,benchmark,,https://invesco.com,2026-11-27\n"
    )
    return seed
