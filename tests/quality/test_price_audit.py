"""The price batch audit: curated tickers block, the long tail is quarantined up to a share."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchestration.quality.outcomes import ExpectationOutcome, SuiteOutcome, append_outcome
from orchestration.quality.price_audit import (
    ChunkedPriceAudit,
    audit_price_batch,
    prepare_price_batch,
)


def batch(tickers: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": tickers,
            "date": pd.to_datetime(["2025-01-02"] * len(tickers)),
            "close": np.arange(1.0, len(tickers) + 1),
            "adj_close": np.arange(1.0, len(tickers) + 1),
        }
    )


def outcome(rows: int, *failures: tuple[str, str, tuple[int, ...]]) -> SuiteOutcome:
    expectations = [
        ExpectationOutcome(
            rule=rule,
            expectation_type="expect_x",
            column="close",
            severity=severity,
            success=False,
            unexpected_count=len(positions),
            unexpected_rows=positions,
        )
        for rule, severity, positions in failures
    ]
    expectations.append(ExpectationOutcome("fine", "expect_y", "close", "critical", True))
    return SuiteOutcome("raw_prices", rows, tuple(expectations))


def test_a_clean_batch_passes() -> None:
    verdict = audit_price_batch(batch(["IREN", "CIFR"]), outcome(2), {"IREN", "CIFR"})
    assert verdict.passes
    assert verdict.blocking_rows.empty
    assert verdict.quarantined_rows.empty


def test_a_curated_tickers_bad_row_blocks_and_is_named() -> None:
    frame = batch(["IREN", "CIFR", "ZZZ"])
    result = outcome(
        3, ("close_positive", "critical", (1,)), ("high_not_below_low", "critical", (1, 2))
    )
    verdict = audit_price_batch(frame, result, {"IREN", "CIFR"}, max_quarantine_share=0.5)
    assert not verdict.passes
    assert list(verdict.blocking_rows["ticker"]) == ["CIFR"]
    assert verdict.blocking_rows["rules"].item() == "close_positive,high_not_below_low"
    assert list(verdict.quarantined_rows["ticker"]) == ["ZZZ"]
    message = verdict.failure_message()
    assert "CIFR 2025-01-02" in message
    assert "close_positive" in message


def test_other_tickers_bad_rows_are_quarantined_within_the_allowed_share() -> None:
    tickers = ["IREN"] + [f"T{i:03d}" for i in range(199)]
    verdict = audit_price_batch(
        batch(tickers), outcome(200, ("close_positive", "critical", (5, 9))), {"IREN"}, 0.01
    )
    assert verdict.passes
    assert list(verdict.quarantined_rows["ticker"]) == ["T004", "T008"]
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
    assert verdict.quarantined_rows.empty


def test_a_failed_rule_without_rows_blocks_the_batch() -> None:
    verdict = audit_price_batch(batch(["ZZZ"]), outcome(1, ("schema", "critical", ())), {"IREN"})
    assert not verdict.passes
    assert verdict.blocking_rows["rules"].item() == "schema"


def test_batch_returns_are_measured_within_each_ticker() -> None:
    frame = pd.DataFrame(
        {
            "ticker": ["B", "A", "A", "B"],
            "date": pd.to_datetime(["2025-01-02", "2025-01-03", "2025-01-02", "2025-01-03"]),
            "adj_close": [10.0, 30.0, 20.0, 5.0],
        }
    )
    prepared = prepare_price_batch(frame)
    assert list(prepared["ticker"]) == ["A", "A", "B", "B"]
    assert prepared["abs_return_in_batch"].tolist()[1] == pytest.approx(0.5)
    assert prepared["abs_return_in_batch"].tolist()[3] == pytest.approx(0.5)
    assert prepared["abs_return_in_batch"].isna().tolist() == [True, False, True, False]


def test_combined_outcomes_count_every_row_and_move_positions_past_earlier_chunks() -> None:
    first = outcome(3, ("close_positive", "critical", (1,)))
    second = outcome(4, ("close_positive", "critical", (0, 3)))
    combined = append_outcome(append_outcome(None, first), second)
    assert combined.row_count == 7
    (failed,) = combined.failed_critical
    assert failed.unexpected_count == 3
    assert failed.unexpected_rows == (1, 3, 6)
    assert combined.passed_count == 1  # the rule that passed in both chunks
    capped = append_outcome(first, second, max_rows_kept=2)
    assert capped.failed_critical[0].unexpected_rows == (1, 3)
    assert capped.failed_critical[0].unexpected_count == 3


def test_outcomes_of_different_rules_are_not_combined() -> None:
    with pytest.raises(ValueError, match="different suites or rules"):
        append_outcome(outcome(1, ("a", "critical", (0,))), outcome(1, ("b", "critical", (0,))))


def test_a_chunked_audit_keeps_only_the_count_of_a_quarantine_far_over_its_share() -> None:
    audit = ChunkedPriceAudit({"IREN"}, max_quarantine_share=0.01, planned_rows=400)
    for start in range(0, 400, 100):  # every row of every chunk is bad
        chunk = batch([f"T{i:03d}" for i in range(start, start + 100)])
        audit.add(chunk, outcome(100, ("close_positive", "critical", tuple(range(100)))))
    verdict = audit.verdict()
    assert verdict.quarantined_count == 400
    assert len(verdict.quarantined_rows) == 100  # the first chunk's, then only counted
    assert verdict.quarantine_share == 1.0
    assert not verdict.passes
    assert "400 of 400 rows quarantined" in verdict.failure_message()
    assert audit.outcome.failed_critical[0].unexpected_count == 400


def test_a_chunked_audit_keeps_every_quarantined_row_within_the_share() -> None:
    audit = ChunkedPriceAudit({"IREN"}, max_quarantine_share=0.01, planned_rows=400)
    for start in range(0, 400, 100):
        chunk = batch([f"T{i:03d}" for i in range(start, start + 100)])
        audit.add(chunk, outcome(100, ("close_positive", "critical", (7,))))
    verdict = audit.verdict()
    assert verdict.passes
    assert list(verdict.quarantined_rows["ticker"]) == ["T007", "T107", "T207", "T307"]
    assert audit.preview_rows.index.tolist() == [7, 107, 207, 307]


def test_a_rule_failing_without_rows_in_any_chunk_blocks_once() -> None:
    def schema(success: bool) -> SuiteOutcome:
        return SuiteOutcome(
            "raw_prices", 1, (ExpectationOutcome("schema", "expect_x", None, "critical", success),)
        )

    audit = ChunkedPriceAudit({"IREN"})
    audit.add(batch(["A"]), schema(True))
    audit.add(batch(["B"]), schema(False))
    audit.add(batch(["C"]), schema(False))
    verdict = audit.verdict()
    assert not verdict.passes
    assert verdict.blocking_rows["rules"].tolist() == ["schema"]


def test_a_chunked_audit_refuses_a_batch_larger_than_planned() -> None:
    audit = ChunkedPriceAudit({"IREN"}, planned_rows=1)
    audit.add(batch(["A", "B"]), outcome(2))
    with pytest.raises(ValueError, match="more than the planned 1"):
        audit.verdict()
