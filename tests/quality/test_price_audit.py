"""The price batch audit: curated tickers block, the long tail is quarantined up to a share.

The verdict is SQL over a staged batch; here the batch is a small DuckDB table and each failed
rule's predicate names rows by a ``pos`` column (what GX and ``sql_conditions`` do for real)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from orchestration.quality.ledger import QUARANTINE_SCHEMA, stage_pending_batch
from orchestration.quality.outcomes import ExpectationOutcome, SuiteOutcome
from orchestration.quality.price_audit import (
    BATCH_TABLE,
    audit_price_batch,
    bad_rows_query,
    write_quarantine,
)
from tests.landing_files import write_landing_file


def batch(tickers: list[str]) -> duckdb.DuckDBPyConnection:
    """A connection whose pending_batch holds one row per ticker, ``pos`` its position."""
    connection = duckdb.connect()
    connection.execute(
        f"""
        create table {BATCH_TABLE} as
        select pos - 1 as pos, 'f.parquet' as landing_file, ticker, date '2025-01-02' as date,
            pos::double as close, pos::double as adj_close
        from unnest($tickers) with ordinality as t(ticker, pos)
        """,
        {"tickers": tickers},
    )
    return connection


def outcome(rows: int, *failures: tuple[str, str, tuple[int, ...] | None]) -> SuiteOutcome:
    """Failed rules naming rows by position; ``None`` positions: a rule without rows."""
    expectations = [
        ExpectationOutcome(
            rule=rule,
            expectation_type="expect_x",
            column="close",
            severity=severity,
            success=False,
            unexpected_count=len(positions or ()),
            condition=None if positions is None else f"pos in ({', '.join(map(str, positions))})",
        )
        for rule, severity, positions in failures
    ]
    expectations.append(ExpectationOutcome("fine", "expect_y", "close", "critical", True))
    return SuiteOutcome("raw_prices", rows, tuple(expectations))


def test_a_clean_batch_passes() -> None:
    verdict = audit_price_batch(batch(["IREN", "CIFR"]), outcome(2), {"IREN", "CIFR"})
    assert verdict.passes
    assert verdict.blocking_count == 0
    assert verdict.quarantined_count == 0


def test_a_curated_tickers_bad_row_blocks_and_is_named() -> None:
    connection = batch(["IREN", "CIFR", "ZZZ"])
    result = outcome(
        3, ("close_positive", "critical", (1,)), ("high_not_below_low", "critical", (1, 2))
    )
    verdict = audit_price_batch(connection, result, {"IREN", "CIFR"}, max_quarantine_share=0.5)
    assert not verdict.passes
    assert verdict.blocking_count == 1
    assert [row["ticker"] for row in verdict.blocking_preview] == ["CIFR"]
    assert verdict.blocking_preview[0]["rules"] == "close_positive,high_not_below_low"
    assert verdict.quarantined_tickers == ("ZZZ",)
    message = verdict.failure_message()
    assert "CIFR 2025-01-02" in message
    assert "close_positive" in message


def test_other_tickers_bad_rows_are_quarantined_within_the_allowed_share() -> None:
    tickers = ["IREN"] + [f"T{i:03d}" for i in range(199)]
    verdict = audit_price_batch(
        batch(tickers), outcome(200, ("close_positive", "critical", (5, 9))), {"IREN"}, 0.01
    )
    assert verdict.passes
    assert verdict.quarantined_tickers == ("T004", "T008")
    assert verdict.quarantined_count == 2
    assert verdict.quarantine_share == pytest.approx(0.01)


def test_quarantine_above_the_share_blocks() -> None:
    tickers = ["IREN"] + [f"T{i:03d}" for i in range(99)]
    verdict = audit_price_batch(
        batch(tickers), outcome(100, ("close_positive", "critical", (5, 9))), {"IREN"}, 0.01
    )
    assert not verdict.passes
    assert "2 of 100 rows quarantined (2.00% > the allowed 1.00%)" in verdict.failure_message()


def test_warnings_never_block_or_quarantine() -> None:
    verdict = audit_price_batch(
        batch(["IREN", "ZZZ"]), outcome(2, ("daily_move_below_50pct", "warning", (0, 1))), {"IREN"}
    )
    assert verdict.passes
    assert verdict.quarantined_count == 0


def test_a_failed_rule_without_rows_blocks_the_batch() -> None:
    verdict = audit_price_batch(batch(["ZZZ"]), outcome(1, ("schema", "critical", None)), {"IREN"})
    assert not verdict.passes
    assert verdict.blocking_count == 1
    assert verdict.blocking_preview[-1]["rules"] == "schema"
    assert "schema" in verdict.failure_message()


def test_every_quarantined_row_reaches_the_ledger_file_in_its_schema(tmp_path: Path) -> None:
    tickers = [f"T{i:04d}" for i in range(5000)]
    bad = tuple(range(0, 5000, 2))  # far more rows than any preview keeps
    connection = batch(tickers)
    verdict = audit_price_batch(connection, outcome(5000, ("close_positive", "critical", bad)), {})
    assert verdict.quarantined_count == 2500
    assert len(verdict.quarantined_preview) < 100
    path = tmp_path / "q.parquet"
    at = datetime(2026, 11, 27, tzinfo=UTC)
    write_quarantine(connection, path, "run-1", at)
    table = pq.read_table(path)
    assert [(f.name, f.type) for f in table.schema] == [(f.name, f.type) for f in QUARANTINE_SCHEMA]
    frame = table.to_pandas()
    assert len(frame) == 2500
    assert set(frame["rules"]) == {"close_positive"}
    assert frame["ticker"].tolist() == [tickers[i] for i in bad]
    assert set(frame["run_id"]) == {"run-1"}


def test_a_row_breaking_no_critical_rule_is_never_selected() -> None:
    query = bad_rows_query(outcome(3, ("daily_move_below_50pct", "warning", (0,))))
    assert batch(["A", "B", "C"]).execute(f"select count(*) from ({query})").fetchone() == (0,)


def test_batch_returns_are_measured_within_each_ticker(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "ticker": ["B", "A", "A", "B"],
            "date": pd.to_datetime(["2025-01-02", "2025-01-03", "2025-01-02", "2025-01-03"]),
            "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
            "adj_close": [10.0, 30.0, 20.0, 5.0],
            "volume": 1.0,
        }
    )  # fmt: skip
    file = write_landing_file(
        frame, tmp_path, price_source="csv", run_id="r1",
        fetched_at=datetime(2026, 11, 27, tzinfo=UTC),
    )  # fmt: skip
    connection = duckdb.connect()
    assert stage_pending_batch(connection, [file], BATCH_TABLE) == 4
    rows = connection.execute(
        f"select ticker, date, abs_return_in_batch from {BATCH_TABLE} order by ticker, date"
    ).fetchall()
    assert [(t, d) for t, d, _ in rows] == [
        ("A", date(2025, 1, 2)), ("A", date(2025, 1, 3)),
        ("B", date(2025, 1, 2)), ("B", date(2025, 1, 3)),
    ]  # fmt: skip
    returns = [r for _, _, r in rows]
    assert returns[0] is None
    assert returns[2] is None
    assert returns[1] == pytest.approx(0.5)
    assert returns[3] == pytest.approx(0.5)


def test_quarantined_rows_outside_the_runs_universe_never_block_it() -> None:
    """Two of four rows bad, both of a ticker a `--universe all` run landed: over the share for
    that run, but a default-universe run (IREN, CIFR) sets them aside and passes."""
    tickers = ["IREN", "CIFR", "BRK B", "BRK B"]
    result = outcome(4, ("close_positive", "critical", (2, 3)))
    curated = {"IREN", "CIFR"}

    all_run = audit_price_batch(batch(tickers), result, curated, max_quarantine_share=0.25)
    assert not all_run.passes
    assert all_run.quarantine_share == 0.5

    seeds_run = audit_price_batch(
        batch(tickers), result, curated, max_quarantine_share=0.25, run_universe=curated
    )
    assert seeds_run.passes
    assert (seeds_run.quarantined_count, seeds_run.quarantined_outside_run) == (2, 2)
    assert seeds_run.quarantine_share == 0.0
    assert seeds_run.quarantined_tickers == ("BRK B",)

    # One of the two bad tickers in the run's universe: only its row counts.
    half = audit_price_batch(
        batch(["IREN", "ZZZ", "BRK B", "YYY"]),
        outcome(4, ("close_positive", "critical", (1, 2))),
        curated,
        max_quarantine_share=0.2,
        run_universe={"IREN", "ZZZ"},
    )
    assert half.quarantine_share == 0.25
    assert not half.passes


def test_the_audit_takes_the_runs_universe_from_its_extraction_report(tmp_path: Path) -> None:
    from orchestration.extract.assets import extraction_summary
    from orchestration.extract.prices import ExtractionReport
    from orchestration.extract.universe import Company
    from orchestration.quality.audit import _run_universe

    report = ExtractionReport(
        run_id="r1",
        requested_source="csv",
        source="csv",
        universe=[Company(t, t, "miner") for t in ("IREN", "CIFR", "BTC-USD")],
        source_by_ticker={"IREN": "csv", "CIFR": "csv"},
        failed={"BTC-USD": "no file"},
    )
    path = tmp_path / "report.json"
    path.write_text(json.dumps(extraction_summary(report), default=str))
    assert _run_universe(path) == {"IREN", "CIFR", "BTC-USD"}
    assert _run_universe(tmp_path / "absent.json") is None
