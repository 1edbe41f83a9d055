"""The raw price audit read and validated chunk by chunk gives the verdict of the whole batch."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestration.extract.demo_source import generate_demo_prices
from orchestration.extract.landing import write_landing_file
from orchestration.paths import LedgerPaths, data_paths
from orchestration.quality.audit import LANDED_PRICES
from orchestration.quality.checks import suite_check_results
from orchestration.quality.gx_runner import GxValidator
from orchestration.quality.ledger import (
    iter_pending_chunks,
    pending_landing_files,
    plan_ticker_chunks,
    read_pending_rows,
)
from orchestration.quality.price_audit import (
    BAD_ROW_COLUMNS,
    audit_in_chunks,
    audit_price_batch,
    prepare_price_batch,
)

TODAY = pd.Timestamp("2026-11-27")
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


@pytest.fixture(scope="module")
def validator(tmp_path_factory: pytest.TempPathFactory) -> GxValidator:
    paths = data_paths(tmp_path_factory.mktemp("data"))
    return GxValidator(paths.quality, paths.data_docs_index)


def pending(landing: Path) -> list[Path]:
    return pending_landing_files(landing, LedgerPaths(landing.parent / "no_ledger"))


def test_chunks_hold_whole_tickers_and_add_up_to_the_batch(landing: Path) -> None:
    files = pending(landing)
    whole = read_pending_rows(files)
    chunks = plan_ticker_chunks(files, chunk_rows=60)  # 23 + 3 landed rows per ticker
    assert [chunk.tickers for chunk in chunks] == [2, 2, 2, 1]
    frames = list(iter_pending_chunks(files, chunks))
    seen: set[str] = set()
    for frame in frames:
        tickers = set(frame["ticker"])
        assert not tickers & seen, "a ticker was split across chunks"
        seen |= tickers
    assert seen == set(TICKERS)
    combined = pd.concat(frames, ignore_index=True)
    pd.testing.assert_frame_equal(combined, whole)


def test_a_ticker_larger_than_the_chunk_is_a_chunk_of_its_own(landing: Path) -> None:
    chunks = plan_ticker_chunks(pending(landing), chunk_rows=10)
    assert [chunk.tickers for chunk in chunks] == [1] * len(TICKERS)
    assert [chunk.first_ticker for chunk in chunks] == sorted(TICKERS)
    assert all(chunk.landed_rows == 26 for chunk in chunks)


def test_a_later_fetch_supersedes_an_earlier_one_in_every_chunk(landing: Path) -> None:
    files = pending(landing)
    frames = list(iter_pending_chunks(files, plan_ticker_chunks(files, chunk_rows=30)))
    rows = pd.concat(frames, ignore_index=True)
    assert len(rows) == 23 * len(TICKERS)  # one row per ticker and trading day
    repaired = rows[(rows["ticker"] == "DEMO00003") & (rows["date"] >= "2025-01-29")]
    assert repaired["close"].tolist() == [7.0, 7.0, 7.0]
    assert set(repaired["landing_file"]) == {files[1].name}
    untouched = rows[(rows["ticker"] == "DEMO00003") & (rows["date"] < "2025-01-29")]
    assert set(untouched["landing_file"]) == {files[0].name}


@pytest.mark.parametrize("chunk_rows", [30, 60, 120])
def test_chunked_audit_equals_the_whole_batch_audit(
    landing: Path, validator: GxValidator, chunk_rows: int
) -> None:
    files = pending(landing)

    def validate(batch: pd.DataFrame):
        return validator.validate("raw_prices", batch, {"today": TODAY})

    batch = prepare_price_batch(read_pending_rows(files))
    whole_outcome = validate(batch)
    whole = audit_price_batch(batch, whole_outcome, CURATED, max_quarantine_share=0.05)

    chunks = plan_ticker_chunks(files, chunk_rows)
    audit = audit_in_chunks(
        iter_pending_chunks(files, chunks), validate, CURATED, 0.05,
        planned_rows=sum(chunk.landed_rows for chunk in chunks),
    )  # fmt: skip
    chunked = audit.verdict()

    assert audit.chunks == len(chunks) > 1
    assert audit.outcome == whole_outcome
    assert list(chunked.blocking_rows["ticker"]) == ["IREN"]
    assert sorted(chunked.quarantined_rows["ticker"]) == [
        "DEMO00001", "DEMO00002", "DEMO00005", "DEMO00006",
    ]  # fmt: skip
    assert files[1].name in set(chunked.quarantined_rows["landing_file"])
    for mine, theirs in (
        (chunked.blocking_rows, whole.blocking_rows),
        (chunked.quarantined_rows, whole.quarantined_rows),
    ):
        pd.testing.assert_frame_equal(mine, theirs[BAD_ROW_COLUMNS])
    assert chunked.quarantine_share == pytest.approx(whole.quarantine_share) == 4 / 161
    assert chunked.passes is whole.passes is False
    assert chunked.failure_message() == whole.failure_message()
    # The checks' metadata, previews of bad rows included, are the whole batch's.
    docs = "index.html"
    for mine, theirs in zip(
        suite_check_results(audit.outcome, LANDED_PRICES, audit.preview_rows, docs),
        suite_check_results(whole_outcome, LANDED_PRICES, batch, docs),
        strict=True,
    ):
        assert mine.metadata == theirs.metadata
        assert mine.passed == theirs.passed
    assert "bad_rows" in mine.metadata  # the jump warnings' rows
