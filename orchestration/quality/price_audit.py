"""The audit of a price batch: curated tickers must be clean; other tickers' bad rows are
quarantined, unless there are too many of them.

A price row of a ticker in the companies seed that breaks a critical rule blocks publishing. With
``--universe all``, rows of other tickers that break a critical rule (zero closes, bad symbols...)
are set aside in the quarantine and kept out of the marts; publishing still blocks when they are
more than ``max_quarantine_share`` of the batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from orchestration import settings
from orchestration.quality.outcomes import SuiteOutcome, append_outcome

DEFAULT_MAX_QUARANTINE_SHARE = settings.MAX_QUARANTINE_SHARE.default
# Row positions a combined outcome keeps per expectation: enough for any preview, and bounded
# when a whole batch breaks a rule (its counts stay exact).
KEPT_POSITIONS = 1_000
# What a verdict keeps of a bad row: the ledger's quarantine columns and the previews' ones.
BAD_ROW_COLUMNS = ["landing_file", "ticker", "date", "close", "rules"]


def prepare_price_batch(rows: pd.DataFrame) -> pd.DataFrame:
    """The batch as the raw_prices suite sees it: sorted, with each row's absolute return
    against the ticker's previous row in the batch (for the jump warning)."""
    batch = rows.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)
    previous = batch.groupby("ticker")["adj_close"].shift()
    batch["abs_return_in_batch"] = (batch["adj_close"] / previous - 1).abs()
    return batch


@dataclass(frozen=True)
class BatchVerdict:
    """What the audit decided about one batch."""

    outcome: SuiteOutcome
    # Curated rows that broke a critical rule, with a `rules` column: these block publishing.
    blocking_rows: pd.DataFrame
    # Other tickers' rows that broke a critical rule: set aside, with a `rules` column.
    quarantined_rows: pd.DataFrame
    max_quarantine_share: float
    # How many rows were quarantined, when ``quarantined_rows`` stopped short of them all: a
    # chunked audit stops keeping them once the share is certainly over the limit.
    quarantined_total: int | None = None

    @property
    def quarantined_count(self) -> int:
        if self.quarantined_total is None:
            return len(self.quarantined_rows)
        return self.quarantined_total

    @property
    def quarantine_share(self) -> float:
        return self.quarantined_count / self.outcome.row_count if self.outcome.row_count else 0.0

    @property
    def quarantine_exceeds_limit(self) -> bool:
        return self.quarantine_share > self.max_quarantine_share

    @property
    def passes(self) -> bool:
        return self.blocking_rows.empty and not self.quarantine_exceeds_limit

    def failure_message(self) -> str:
        """What blocked, naming the rules and the first bad rows."""
        parts = []
        if not self.blocking_rows.empty:
            preview = self.blocking_rows.head(settings.PREVIEW_ROWS)
            rows = "; ".join(
                f"{r.ticker} {pd.Timestamp(r.date).date()} close={r.close} [{r.rules}]"
                for r in preview.itertuples()
            )
            rules = sorted(
                {rule for joined in self.blocking_rows["rules"] for rule in joined.split(",")}
            )
            parts.append(
                f"{len(self.blocking_rows)} price rows of curated tickers break "
                f"{', '.join(rules)} (raw_prices suite): {rows}"
            )
        if self.quarantine_exceeds_limit:
            parts.append(
                f"{self.quarantined_count} of {self.outcome.row_count} rows quarantined "
                f"({self.quarantine_share:.2%} > the allowed {self.max_quarantine_share:.2%})"
            )
        return " | ".join(parts) or "passed"


def audit_price_batch(
    batch: pd.DataFrame,
    outcome: SuiteOutcome,
    curated_tickers: Collection[str],
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE,
) -> BatchVerdict:
    """Split the rows that broke critical rules into blocking (curated) and quarantined (other).

    A critical rule that failed without naming rows (a whole-batch rule, or an error) blocks.
    """
    blocking, quarantined = split_bad_rows(batch, outcome, curated_tickers)
    return BatchVerdict(
        outcome=outcome,
        blocking_rows=_with_batch_failures(blocking, _whole_batch_failures(outcome)),
        quarantined_rows=quarantined,
        max_quarantine_share=max_quarantine_share,
    )


def split_bad_rows(
    batch: pd.DataFrame, outcome: SuiteOutcome, curated_tickers: Collection[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(curated rows, other rows) of ``batch`` named by failed critical rules, each with a
    ``rules`` column listing the rules the row broke."""
    rules_by_row: dict[int, list[str]] = defaultdict(list)
    for expectation in outcome.failed_critical:
        for position in expectation.unexpected_rows:
            rules_by_row[position].append(expectation.rule)
    positions = np.array(sorted(rules_by_row), dtype=int)
    bad = batch.iloc[positions].copy() if len(positions) else batch.iloc[0:0].copy()
    # A typed column even when empty, so the bad rows of several chunks concatenate cleanly.
    bad["rules"] = pd.Series(
        [",".join(rules_by_row[p]) for p in positions], index=bad.index, dtype="str"
    )
    is_curated = bad["ticker"].isin(set(curated_tickers))
    return bad[is_curated].reset_index(drop=True), bad[~is_curated].reset_index(drop=True)


def _whole_batch_failures(outcome: SuiteOutcome) -> list[str]:
    return [e.rule for e in outcome.failed_critical if not e.unexpected_rows]


def _with_batch_failures(blocking: pd.DataFrame, rules: list[str]) -> pd.DataFrame:
    if not rules:
        return blocking.reset_index(drop=True)
    summary = pd.DataFrame(
        {"ticker": ["(batch)"], "date": [pd.NaT], "close": [np.nan], "rules": [",".join(rules)]}
    )
    return pd.concat([blocking, summary], ignore_index=True)


@dataclass
class ChunkedPriceAudit:
    """The audit of a batch validated chunk by chunk, each chunk holding whole tickers.

    Because no ticker spans two chunks, every raw_prices rule gives on a chunk what it gives on
    those rows inside the whole batch; the combined outcome and verdict equal the unchunked ones
    (positions are batch positions, chunks in order). Memory holds only the bad rows, and once
    the quarantined rows are certainly over the allowed share of ``planned_rows`` (an upper
    bound of the batch's rows) only their count.
    """

    curated_tickers: Collection[str]
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE
    planned_rows: int | None = None
    # The combined outcome of the chunks added so far; None before the first.
    outcome: SuiteOutcome | None = field(default=None, init=False)
    chunks: int = field(default=0, init=False)
    _blocking: list[pd.DataFrame] = field(default_factory=list, init=False)
    _quarantined: list[pd.DataFrame] = field(default_factory=list, init=False)
    _quarantined_kept: int = field(default=0, init=False)
    _quarantined_total: int = field(default=0, init=False)
    _batch_failures: dict[str, None] = field(default_factory=dict, init=False)  # ordered set
    _preview: list[pd.DataFrame] = field(default_factory=list, init=False)

    def add(self, chunk: pd.DataFrame, outcome: SuiteOutcome) -> None:
        """Take in one validated chunk (``outcome`` is the suite's on ``chunk``, in its order)."""
        offset = self.outcome.row_count if self.outcome else 0
        # First, so that a chunk validated against other rules is refused before it counts.
        combined = append_outcome(self.outcome, outcome, max_rows_kept=KEPT_POSITIONS)
        blocking, quarantined = split_bad_rows(chunk, outcome, self.curated_tickers)
        self._blocking.append(_bad_row_columns(blocking))
        self._quarantined_total += len(quarantined)
        if not self._quarantine_certainly_too_large():
            self._quarantined.append(_bad_row_columns(quarantined))
            self._quarantined_kept += len(quarantined)
        self._batch_failures.update(dict.fromkeys(_whole_batch_failures(outcome)))
        # The rows any preview can show: each failed expectation's first settings.PREVIEW_ROWS.
        kept = self.outcome.expectations if self.outcome else ()
        preview = set()
        for position, expectation in enumerate(outcome.expectations):
            already = len(kept[position].unexpected_rows) if kept else 0
            preview.update(expectation.unexpected_rows[: max(settings.PREVIEW_ROWS - already, 0)])
        if preview:
            rows = sorted(preview)
            self._preview.append(chunk.iloc[rows].set_axis([offset + r for r in rows]))
        self.outcome = combined
        self.chunks += 1

    def _quarantine_certainly_too_large(self) -> bool:
        if self.planned_rows is None:
            return False
        return self._quarantined_kept > self.max_quarantine_share * self.planned_rows

    @property
    def preview_rows(self) -> pd.DataFrame:
        """Bad rows to show, indexed by their batch position (``suite_check_results``'s frame)."""
        if not self._preview:
            return pd.DataFrame()
        return pd.concat(self._preview)

    def verdict(self) -> BatchVerdict:
        if self.outcome is None:
            raise ValueError("no chunk was audited")
        if self.planned_rows is not None and self.outcome.row_count > self.planned_rows:
            # The quarantine cut-off relied on this bound.
            raise ValueError(
                f"audited {self.outcome.row_count} rows, more than the planned {self.planned_rows}"
            )
        blocking = pd.concat(self._blocking, ignore_index=True)
        verdict = BatchVerdict(
            outcome=self.outcome,
            blocking_rows=_with_batch_failures(blocking, list(self._batch_failures)),
            quarantined_rows=pd.concat(self._quarantined, ignore_index=True),
            max_quarantine_share=self.max_quarantine_share,
            quarantined_total=self._quarantined_total,
        )
        if self._quarantined_kept < self._quarantined_total and verdict.passes:
            # Unreachable while planned_rows bounds the batch; the ledger must never get a
            # partial quarantine.
            raise RuntimeError("quarantined rows were dropped from a passing verdict")
        return verdict


def audit_in_chunks(
    chunks: Iterable[pd.DataFrame],
    validate: Callable[[pd.DataFrame], SuiteOutcome],
    curated_tickers: Collection[str],
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE,
    planned_rows: int | None = None,
) -> ChunkedPriceAudit:
    """Prepare and validate each chunk of pending rows (whole tickers each, in ticker order) and
    combine the results. Empty chunks are skipped."""
    audit = ChunkedPriceAudit(curated_tickers, max_quarantine_share, planned_rows)
    for rows in chunks:
        if rows.empty:
            continue
        batch = prepare_price_batch(rows)
        audit.add(batch, validate(batch))
        del batch, rows  # let the chunk go before the next one is read
    return audit


def _bad_row_columns(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[[column for column in BAD_ROW_COLUMNS if column in rows.columns]]
