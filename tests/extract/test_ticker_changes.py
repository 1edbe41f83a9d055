"""Ticker changes: a renamed company lands under its current symbol with its whole history,
whether the CSV folder holds its file under the old symbol, the new one, or both."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from orchestration.extract.prices import ExtractionOptions, extract_prices
from orchestration.extract.ticker_changes import (
    TickerChange,
    current_symbols,
    former_symbols,
    load_ticker_changes,
)
from orchestration.paths import DataPaths

RUN_AT = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)


@pytest.fixture
def renamed_seed(tmp_path: Path) -> Path:
    """A companies seed listing KEEL (formerly BITF) and IREN, with the ticker changes beside it."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "companies.csv").write_text(
        "ticker,name,segment,listing_notes,source_url,as_of_date\n"
        "KEEL,Keel Infrastructure,bitcoin_miner,,https://example.org/keel,2026-11-27\n"
        "IREN,IREN Ltd,bitcoin_miner,,https://example.org/iren,2026-11-27\n"
    )
    (seeds / "ticker_changes.csv").write_text(
        "old_ticker,new_ticker,effective_date,company_name,notes,source_url\n"
        "BITF,KEEL,2026-04-06,Keel,,https://example.org/rename\n"
    )
    return seeds / "companies.csv"


def write_minimal(path: Path, closes: dict[str, float]) -> None:
    path.write_text("Date,Close\n" + "".join(f"{d},{c}\n" for d, c in closes.items()))


def extract(folder: Path, seed: Path, tmp_path: Path, **options):
    report = extract_prices(
        ExtractionOptions(source="csv", csv_dir=folder, **options),
        paths=DataPaths(tmp_path),
        companies_seed=seed,
        run_id="r1",
        fetched_at=RUN_AT,
        is_reachable=lambda: False,
    )
    files = sorted((DataPaths(tmp_path).landing_prices).glob("*.parquet"))
    landed = pd.concat([pd.read_parquet(path) for path in files]) if files else pd.DataFrame()
    return report, landed


def closes_of(landed: pd.DataFrame, ticker: str) -> dict[str, float]:
    rows = landed[landed["ticker"] == ticker].sort_values("date")
    return {
        f"{pd.Timestamp(d):%Y-%m-%d}": c for d, c in zip(rows["date"], rows["close"], strict=True)
    }


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "csv"
    path.mkdir()
    write_minimal(path / "IREN.csv", {"2026-04-01": 10.0})
    return path


@pytest.mark.parametrize("file_name", ["BITF.csv", "KEEL.csv"])
def test_a_file_under_either_symbol_lands_under_the_new_one(
    folder: Path, renamed_seed: Path, tmp_path: Path, file_name: str
) -> None:
    write_minimal(folder / file_name, {"2026-04-02": 1.0, "2026-04-07": 6.5})
    report, landed = extract(folder, renamed_seed, tmp_path)
    assert report.failed == {}
    assert closes_of(landed, "KEEL") == {"2026-04-02": 1.0, "2026-04-07": 6.5}
    assert "BITF" not in set(landed["ticker"])


def test_with_both_files_the_new_symbol_wins_and_the_old_fills_earlier_dates(
    folder: Path, renamed_seed: Path, tmp_path: Path
) -> None:
    write_minimal(folder / "BITF.csv", {"2026-04-02": 1.0, "2026-04-06": 99.0})
    write_minimal(folder / "KEEL.csv", {"2026-04-06": 6.0, "2026-04-07": 6.5})
    report, landed = extract(folder, renamed_seed, tmp_path)
    assert report.failed == {}
    assert closes_of(landed, "KEEL") == {"2026-04-02": 1.0, "2026-04-06": 6.0, "2026-04-07": 6.5}


def test_a_yfinance_export_under_the_old_symbol_is_parsed_and_relabelled(
    folder: Path, renamed_seed: Path, tmp_path: Path
) -> None:
    # yf.download().to_csv() names the ticker in its header: it must match the file (BITF).
    (folder / "BITF.csv").write_text(
        "Price,Adj Close,Close,High,Low,Open,Volume\n"
        "Ticker,BITF,BITF,BITF,BITF,BITF,BITF\n"
        "Date,,,,,,\n"
        "2026-04-02,1.0,1.0,1.2,0.9,1.1,100\n"
    )
    report, landed = extract(folder, renamed_seed, tmp_path)
    assert report.failed == {}
    assert closes_of(landed, "KEEL") == {"2026-04-02": 1.0}


def test_no_file_under_any_symbol_names_them_all(
    folder: Path, renamed_seed: Path, tmp_path: Path
) -> None:
    report, _ = extract(folder, renamed_seed, tmp_path, max_failed_share=1.0)
    assert "KEEL.csv or BITF.csv" in report.failed["KEEL"]


def test_universe_all_does_not_add_the_old_symbol_as_another_ticker(
    folder: Path, renamed_seed: Path, tmp_path: Path
) -> None:
    write_minimal(folder / "BITF.csv", {"2026-04-02": 1.0})
    write_minimal(folder / "ZZZZ.csv", {"2026-04-02": 3.0})
    report, landed = extract(folder, renamed_seed, tmp_path, universe="all")
    assert sorted(company.ticker for company in report.universe) == ["IREN", "KEEL", "ZZZZ"]
    assert set(landed["ticker"]) == {"IREN", "KEEL", "ZZZZ"}


def test_chains_resolve_to_the_last_symbol_and_newer_symbols_come_first() -> None:
    changes = [
        TickerChange("AAA", "BBB", date(2020, 1, 1)),
        TickerChange("BBB", "CCC", date(2024, 1, 1)),
    ]
    assert current_symbols(changes) == {"AAA": "CCC", "BBB": "CCC"}
    assert former_symbols(changes) == {"CCC": ["BBB", "AAA"]}


def test_cycles_and_double_renames_are_refused() -> None:
    with pytest.raises(ValueError, match="cycle"):
        current_symbols(
            [TickerChange("A", "B", date(2020, 1, 1)), TickerChange("B", "A", date(2021, 1, 1))]
        )
    with pytest.raises(ValueError, match="renamed twice"):
        current_symbols(
            [TickerChange("A", "B", date(2020, 1, 1)), TickerChange("A", "C", date(2021, 1, 1))]
        )


def test_the_repo_seed_maps_bitf_to_keel() -> None:
    from orchestration.extract.ticker_changes import ticker_changes_path
    from orchestration.paths import COMPANIES_SEED

    changes = load_ticker_changes(ticker_changes_path(COMPANIES_SEED))
    assert current_symbols(changes)["BITF"] == "KEEL"
