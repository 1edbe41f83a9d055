"""The audit ledger: pending files, superseded rows, append-only verdicts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.extract.sources.demo import generate_demo_prices
from orchestration.paths import LedgerPaths
from orchestration.quality.ledger import (
    accepted_file_names,
    pending_landing_files,
    record_audit,
    stage_pending_batch,
)
from tests.landing_files import write_landing_file

AUDITED_AT = datetime(2026, 11, 27, tzinfo=UTC)


def land(landing: Path, run_id: str, end: date, hour: int, close: float | None = None) -> Path:
    prices = generate_demo_prices(["IREN"], date(2025, 1, 1), end)
    if close is not None:
        prices["close"] = close
    return write_landing_file(
        prices, landing, price_source="demo", run_id=run_id,
        fetched_at=datetime(2026, 11, 27, hour, tzinfo=UTC),
    )  # fmt: skip


def test_files_stay_pending_until_accepted(tmp_path: Path) -> None:
    landing, ledger = tmp_path / "landing", LedgerPaths(tmp_path / "ledger")
    first = land(landing, "r1", date(2025, 1, 10), hour=1)
    assert pending_landing_files(landing, ledger) == [first]
    record_audit(
        ledger, accepted=[first], quarantined=pd.DataFrame(), run_id="a1", audited_at=AUDITED_AT
    )
    second = land(landing, "r2", date(2025, 1, 14), hour=2)
    assert pending_landing_files(landing, ledger) == [second]
    assert accepted_file_names(ledger) == {first.name}


def test_pending_rows_keep_only_the_latest_fetch_of_each_day(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    older = land(landing, "r1", date(2025, 1, 3), hour=1, close=-1.0)  # bad...
    newer = land(landing, "r2", date(2025, 1, 3), hour=2, close=5.0)  # ...then revised
    connection = duckdb.connect()
    stage_pending_batch(connection, [older, newer], "batch")
    rows = connection.sql("select * from batch").df()
    assert len(rows) == 3  # Jan 1-3, once each
    assert set(rows["close"]) == {5.0}
    assert set(rows["landing_file"]) == {newer.name}


def test_an_audit_verdict_is_written_once(tmp_path: Path) -> None:
    landing, ledger = tmp_path / "landing", LedgerPaths(tmp_path / "ledger")
    first = land(landing, "r1", date(2025, 1, 3), hour=1)
    quarantined = pd.DataFrame(
        {"landing_file": [first.name], "ticker": ["IREN"], "date": pd.to_datetime(["2025-01-02"]),
         "close": [0.0], "rules": ["close_positive"]}
    )  # fmt: skip
    record_audit(
        ledger, accepted=[first], quarantined=quarantined, run_id="a1", audited_at=AUDITED_AT
    )
    stored = pd.read_parquet(ledger.quarantine / "a1.parquet")
    assert stored["rules"].tolist() == ["close_positive"]
    with pytest.raises(FileExistsError):
        record_audit(
            ledger, accepted=[first], quarantined=quarantined, run_id="a1", audited_at=AUDITED_AT
        )
