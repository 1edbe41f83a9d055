"""Plain results of validating rows against a suite, free of Great Expectations types, so the
gate logic and the Dagster checks can be tested without running GX."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CRITICAL = "critical"
WARNING = "warning"


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict on one batch of rows."""

    rule: str
    expectation_type: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int = 0
    # The SQL predicate naming the rows that break a row-level rule (sql_conditions.py), for
    # the audit to select every one of them; None for rules without rows (aggregates).
    condition: str | None = None
    # The first few rows that broke it (settings.PREVIEW_ROWS), whole, for previews.
    unexpected_rows: tuple[dict[str, Any], ...] = ()
    observed_value: str | None = None
    error: str | None = None

    @property
    def is_critical(self) -> bool:
        return self.severity == CRITICAL

    def describe(self) -> str:
        """``rule (expectation on column): N unexpected`` for messages and metadata."""
        target = f" on {self.column}" if self.column else ""
        detail = f"{self.unexpected_count} unexpected"
        if self.observed_value is not None:
            detail = f"observed {self.observed_value}"
        if self.error:
            detail = f"error: {self.error}"
        return f"{self.rule} ({self.expectation_type}{target}): {detail}"


@dataclass(frozen=True)
class SuiteOutcome:
    """A suite's verdict on one batch of rows."""

    suite: str
    row_count: int
    expectations: tuple[ExpectationOutcome, ...] = field(default_factory=tuple)

    @property
    def failed_critical(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if e.is_critical and not e.success]

    @property
    def failed_warnings(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if not e.is_critical and not e.success]

    @property
    def passed_count(self) -> int:
        return sum(e.success for e in self.expectations)

    @property
    def failed_count(self) -> int:
        return len(self.expectations) - self.passed_count
