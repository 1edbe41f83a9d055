"""The raw price audit end to end in SQL: landing files staged in DuckDB, validated by GX's SQL
datasource, bad rows split, named and quarantined to the ledger from DuckDB."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration.extract.sources.demo import generate_demo_prices
from orchestration.paths import LedgerPaths, data_paths
from orchestration.quality.audit import LANDED_PRICES
from orchestration.quality.checks import suite_check_results
from orchestration.quality.gx_runner import GxValidator
from orchestration.quality.ledger import (
    pending_landing_files,
    record_audit,
    stage_pending_batch,
)
from orchestration.quality.price_audit import BATCH_TABLE, audit_price_batch, write_quarantine
from tests.landing_files import write_landing_file

TODAY = date(2026, 11, 27)
CURATED = {"IREN"}
TICKERS = ["IREN", *(f"DEMO0000{i}" for i in range(1, 7))]


def day(prices: pd.DataFrame, ticker: str, position: int) -> pd.Index:
    return prices.index[prices["ticker"] == ticker][[position]]


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seven tickers of January 2025 with bad rows spread over them, then a re-fetch that
    repairs one bad row and breaks another one."""
    landing = tmp_path_factory.mktemp("landing")
    prices = generate_demo_prices(TICKERS, date(2025, 1, 1), date(2025, 1, 31))
    prices.loc[day(prices, "IREN", 3), "close"] = -1.0  # curated: blocks
    prices.loc[day(prices, "DEMO00002", 5), "close"] = 0.0  # quarantined
    prices.loc[day(prices, "DEMO00003", 22), "close"] = 0.0  # bad, but re-fetched fixed
    prices.loc[day(prices, "DEMO00005", 7), ["high", "low"]] = [1.0, 2.0]  # quarantined
    prices.loc[day(prices, "DEMO00006", 1), "adj_close"] = np.nan  # quarantined
    prices.loc[day(prices, "DEMO00004", 9), "adj_close"] *= 3  # a jump: warns twice
    write_landing_file(
        prices, landing, price_source="demo", run_id="r1",
        fetched_at=datetime(2026, 11, 27, 1, tzinfo=UTC),
    )  # fmt: skip
    refetch = prices[prices["date"] >= pd.Timestamp("2025-01-29")].copy()
    refetch.loc[refetch["ticker"] == "DEMO00003", "close"] = 7.0
    refetch.loc[day(refetch, "DEMO00001", 2), "close"] = 0.0  # quarantined from the re-fetch
    write_landing_file(
        refetch, landing, price_source="demo", run_id="r2",
        fetched_at=datetime(2026, 11, 27, 2, tzinfo=UTC),
    )  # fmt: skip
    return landing


def pending(landing: Path) -> list[Path]:
    return pending_landing_files(landing, LedgerPaths(landing.parent / "no_ledger"))


@pytest.fixture(scope="module")
def audited(landing: Path, tmp_path_factory: pytest.TempPathFactory):
    """(files, database, outcome, verdict) of the audit of the landed files."""
    data = tmp_path_factory.mktemp("data")
    files, database = pending(landing), data / "batch.duckdb"
    with duckdb.connect(str(database)) as connection:
        assert stage_pending_batch(connection, files, BATCH_TABLE) == 23 * len(TICKERS)
    paths = data_paths(data)
    validator = GxValidator(paths.quality, paths.data_docs_index, database)
    outcome = validator.validate(
        "raw_prices", f"select * from {BATCH_TABLE}", {"today": TODAY}, ["ticker", "date"]
    )
    validator.build_data_docs()
    with duckdb.connect(str(database)) as connection:
        verdict = audit_price_batch(connection, outcome, CURATED, max_quarantine_share=0.05)
    return files, database, outcome, verdict


def test_a_later_fetch_supersedes_an_earlier_one(landing: Path, tmp_path: Path) -> None:
    files = pending(landing)
    with duckdb.connect(str(tmp_path / "b.duckdb")) as connection:
        stage_pending_batch(connection, files, BATCH_TABLE)
        rows = connection.execute(
            f"select date, close, landing_file from {BATCH_TABLE} where ticker = 'DEMO00003' "
            "order by date"
        ).fetchall()
    assert len(rows) == 23  # one row per trading day
    assert [(close, file) for day_, close, file in rows if day_ >= date(2025, 1, 29)] == [
        (7.0, files[1].name)
    ] * 3
    assert {file for day_, _, file in rows if day_ < date(2025, 1, 29)} == {files[0].name}


def test_the_audit_blocks_on_curated_rows_and_quarantines_the_long_tail(audited) -> None:
    _files, _database, outcome, verdict = audited
    assert outcome.row_count == 161
    assert verdict.blocking_count == 1
    assert [row["ticker"] for row in verdict.blocking_preview] == ["IREN"]
    assert verdict.quarantined_tickers == ("DEMO00001", "DEMO00002", "DEMO00005", "DEMO00006")
    assert verdict.quarantine_share == pytest.approx(4 / 161)
    assert verdict.passes is False
    message = verdict.failure_message()
    assert "1 price rows of curated tickers break close_positive" in message
    assert "IREN 2025-01-06 close=-1.0" in message
    # GX's counts of each failed rule, and the rows they name.
    counts = {e.rule: e.unexpected_count for e in outcome.expectations if not e.success}
    assert counts == {
        "close_positive": 3,
        "adj_close_not_null": 1,
        "high_not_below_low": 1,
        "daily_move_below_50pct": 2,
    }


def test_the_checks_name_the_bad_rows(audited) -> None:
    _files, _database, outcome, _verdict = audited
    critical, warnings = suite_check_results(outcome, LANDED_PRICES, "index.html")
    assert not critical.passed
    assert not warnings.passed
    assert critical.metadata["suite_expectations"].value == 23
    assert critical.metadata["suite_failed"].value == 4
    assert critical.metadata["unexpected_counts"].value["close_positive"] == 3
    bad_rows = critical.metadata["bad_rows"].value
    for ticker in ("IREN", "DEMO00001", "DEMO00002", "DEMO00005", "DEMO00006"):
        assert ticker in bad_rows
    assert "DEMO00004" in warnings.metadata["bad_rows"].value  # the jump warnings' rows


def test_the_quarantine_reaches_the_ledger_from_duckdb(audited, tmp_path: Path) -> None:
    files, database, outcome, _ = audited
    ledger = LedgerPaths(tmp_path / "ledger")
    at = datetime(2026, 11, 27, 3, tzinfo=UTC)
    with duckdb.connect(str(database)) as connection:
        verdict = audit_price_batch(connection, outcome, CURATED, 0.05)
        record_audit(
            ledger,
            accepted=files,
            write_quarantine=lambda path: write_quarantine(connection, path, "a1", at),
            run_id="a1",
            audited_at=at,
        )
    stored = pd.read_parquet(ledger.quarantine / "a1.parquet")
    assert verdict.quarantined_count == len(stored) == 4
    assert stored["ticker"].tolist() == ["DEMO00001", "DEMO00002", "DEMO00005", "DEMO00006"]
    assert stored["rules"].tolist() == [
        "close_positive", "close_positive", "high_not_below_low", "adj_close_not_null",
    ]  # fmt: skip
    # The re-fetch's bad row comes from the later file.
    assert stored["landing_file"].tolist() == [files[1].name] + [files[0].name] * 3
