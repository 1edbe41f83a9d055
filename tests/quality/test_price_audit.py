"""The price batch audit: curated tickers block, the long tail is quarantined up to a share."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchestration.quality.outcomes import ExpectationOutcome, SuiteOutcome
from orchestration.quality.price_audit import audit_price_batch, prepare_price_batch


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
