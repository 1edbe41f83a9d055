"""Plain results of validating a frame against a suite, free of Great Expectations types, so the
gate logic and the Dagster checks can be tested without running GX."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

CRITICAL = "critical"
WARNING = "warning"


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict on one frame."""

    rule: str
    expectation_type: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int = 0
    # Positions (0-based, in the validated frame) of the rows that broke a row-level rule. An
    # outcome combined from chunks may keep only the first ones (see append_outcome);
    # unexpected_count always counts them all.
    unexpected_rows: tuple[int, ...] = ()
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
    """A suite's verdict on one frame."""

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


def append_outcome(
    total: SuiteOutcome | None, part: SuiteOutcome, *, max_rows_kept: int | None = None
) -> SuiteOutcome:
    """The outcome of ``total``'s frame followed by ``part``'s, as if validated as one frame.

    For row-level rules: an expectation passes when it passed on both, counts add up, and
    ``part``'s row positions move past ``total``'s rows. Rules that compare rows with each
    other only stay exact when the frames were cut where no such pair spans them (the price
    audit cuts between tickers). ``max_rows_kept`` bounds the positions kept per expectation, so
    a batch where every row fails does not hold one number per row; the first ones are kept.
    """
    if total is None:
        return _keep_first_rows(part, max_rows_kept)
    if total.suite != part.suite or [e.rule for e in total.expectations] != [
        e.rule for e in part.expectations
    ]:
        raise ValueError(
            f"cannot combine outcomes of different suites or rules: {total.suite!r} and "
            f"{part.suite!r}"
        )
    offset = total.row_count
    combined = []
    for before, after in zip(total.expectations, part.expectations, strict=True):
        rows = before.unexpected_rows + tuple(offset + row for row in after.unexpected_rows)
        # A failing part's observed value and error say more than a passing one's.
        first_failure = before if not before.success or after.success else after
        combined.append(
            replace(
                before,
                success=before.success and after.success,
                unexpected_count=before.unexpected_count + after.unexpected_count,
                unexpected_rows=rows if max_rows_kept is None else rows[:max_rows_kept],
                observed_value=first_failure.observed_value,
                error=before.error or after.error,
            )
        )
    return SuiteOutcome(total.suite, total.row_count + part.row_count, tuple(combined))


def _keep_first_rows(outcome: SuiteOutcome, max_rows_kept: int | None) -> SuiteOutcome:
    if max_rows_kept is None:
        return outcome
    expectations = tuple(
        replace(e, unexpected_rows=e.unexpected_rows[:max_rows_kept]) for e in outcome.expectations
    )
    return replace(outcome, expectations=expectations)
