"""The audit of a price batch: curated tickers must be clean; other tickers' bad rows are
quarantined, unless there are too many of them.

A price row of a ticker in the companies seed that breaks a critical rule blocks publishing. With
``--universe all``, rows of other tickers that break a critical rule (zero closes, bad symbols...)
are set aside in the quarantine and kept out of the marts; publishing still blocks when they are
more than ``max_quarantine_share`` of the batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from orchestration.quality.outcomes import SuiteOutcome

DEFAULT_MAX_QUARANTINE_SHARE = 0.01
PREVIEW_ROWS = 10


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

    @property
    def quarantine_share(self) -> float:
        return (
            len(self.quarantined_rows) / self.outcome.row_count if self.outcome.row_count else 0.0
        )

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
            preview = self.blocking_rows.head(PREVIEW_ROWS)
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
                f"{len(self.quarantined_rows)} of {self.outcome.row_count} rows quarantined "
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
    rules_by_row: dict[int, list[str]] = defaultdict(list)
    whole_batch_failures = []
    for expectation in outcome.failed_critical:
        if not expectation.unexpected_rows:
            whole_batch_failures.append(expectation)
        for position in expectation.unexpected_rows:
            rules_by_row[position].append(expectation.rule)

    positions = np.array(sorted(rules_by_row), dtype=int)
    bad = batch.iloc[positions].copy() if len(positions) else batch.iloc[0:0].copy()
    bad["rules"] = [",".join(rules_by_row[p]) for p in positions]
    is_curated = bad["ticker"].isin(set(curated_tickers))
    blocking = bad[is_curated]
    if whole_batch_failures:
        summary = pd.DataFrame(
            {
                "ticker": ["(batch)"],
                "date": [pd.NaT],
                "close": [np.nan],
                "rules": [",".join(e.rule for e in whole_batch_failures)],
            }
        )
        blocking = pd.concat([blocking, summary], ignore_index=True)
    return BatchVerdict(
        outcome=outcome,
        blocking_rows=blocking.reset_index(drop=True),
        quarantined_rows=bad[~is_curated].reset_index(drop=True),
        max_quarantine_share=max_quarantine_share,
    )
