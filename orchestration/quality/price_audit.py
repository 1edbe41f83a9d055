"""The audit of a price batch: curated tickers must be clean; other tickers' bad rows are
quarantined, unless there are too many of them.

A price row of a ticker in the companies seed that breaks a critical rule blocks publishing. With
``--universe all``, rows of other tickers that break a critical rule (zero closes, bad symbols...)
are set aside in the quarantine and kept out of the marts; publishing still blocks when they are
more than ``max_quarantine_share`` of the batch.

Everything here is SQL over the staged batch (``ledger.stage_pending_batch``) in a DuckDB
database: the bad rows are selected by the failed rules' predicates (``sql_conditions``), counted
and written to the ledger in DuckDB; Python holds only counts and a few rows for messages.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from orchestration import settings
from orchestration.quality.outcomes import ExpectationOutcome, SuiteOutcome
from orchestration.quality.sql_conditions import (
    compound_key,
    identifier,
    literal,
    with_key_counts,
)
from orchestration.quality.suites import load_suite_document

DEFAULT_MAX_QUARANTINE_SHARE = settings.MAX_QUARANTINE_SHARE.default
# The staged batch's table, and the view of its rows that broke critical rules.
BATCH_TABLE = "pending_batch"
BAD_ROWS_VIEW = "bad_rows"
# What a preview shows of a bad row: ``broken`` names each broken rule with the value that
# broke it (``close_not_above_1e7: close=1e+308``), ``landing_file`` the file it came from.
PREVIEW_COLUMNS = ["ticker", "date", "close", "rules", "broken", "landing_file"]
_PLAIN_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# How many quarantined tickers a blocked run's message names (with their row counts).
NAMED_TICKERS = 5


@dataclass(frozen=True)
class BatchVerdict:
    """What the audit decided about one batch."""

    outcome: SuiteOutcome
    # Curated rows that broke a critical rule (these block publishing), plus one for the
    # critical rules that failed without naming rows; the first few, with their rules.
    blocking_count: int
    blocking_preview: tuple[dict[str, Any], ...]
    blocking_rules: tuple[str, ...]
    # Other tickers' rows that broke a critical rule: set aside.
    quarantined_count: int
    quarantined_preview: tuple[dict[str, Any], ...]
    quarantined_tickers: tuple[str, ...]
    max_quarantine_share: float
    # The tickers with the most quarantined rows, with their counts (most first).
    quarantined_counts: tuple[tuple[str, int], ...] = ()
    # Quarantined rows of tickers outside the run's universe (pending since a run of another
    # universe): set aside like the others, but a run is not blocked by what it did not read.
    quarantined_outside_run: int = 0

    @property
    def quarantine_share(self) -> float:
        """The share of the batch quarantined among the run's own tickers."""
        counted = self.quarantined_count - self.quarantined_outside_run
        return counted / self.outcome.row_count if self.outcome.row_count else 0.0

    @property
    def quarantine_exceeds_limit(self) -> bool:
        return self.quarantine_share > self.max_quarantine_share

    @property
    def passes(self) -> bool:
        return self.blocking_count == 0 and not self.quarantine_exceeds_limit

    def failure_message(self, blocked_rows: str | None = None) -> str:
        """What blocked (the rules, the first bad rows with their landing file, the tickers
        over the quarantine share) and what to do; ``blocked_rows``: where the bad rows are."""
        parts = []
        if self.blocking_count:
            rows = "; ".join(
                f"{r['ticker']} {r['date']} close={r['close']} [{r.get('broken') or r['rules']}]"
                + (f" in {r['landing_file']}" if r.get("landing_file") else "")
                for r in self.blocking_preview[: settings.PREVIEW_ROWS]
            )
            tickers = sorted({str(r["ticker"]) for r in self.blocking_preview if r["date"]})
            files = ", ".join(f"{ticker}.csv" for ticker in tickers[:NAMED_TICKERS])
            parts.append(
                f"{self.blocking_count} price rows of curated tickers break "
                f"{', '.join(self.blocking_rules)} (raw_prices suite): {rows}. "
                "To unblock, fix or remove the row in its source and rerun"
                + (f" (with --source csv: the dated line of {files})" if files else "")
                + "; a row removed from a CSV file is retracted by the next run"
            )
        if self.quarantine_exceeds_limit:
            named = ", ".join(
                f"{ticker} ({count} rows)" for ticker, count in self.quarantined_counts
            )
            more = len(self.quarantined_tickers) - len(self.quarantined_counts)
            parts.append(
                f"{self.quarantined_count} of {self.outcome.row_count} rows quarantined "
                f"({self.quarantine_share:.2%} > the allowed {self.max_quarantine_share:.2%}), "
                f"of tickers outside the companies seed: {named}"
                + (f" and {more} more" if more > 0 else "")
                + ". To unblock, fix or remove these tickers' files (a removed file's rows are "
                "retracted by the next CSV run, whatever its universe) and rerun, or raise "
                "HASHPIVOT_MAX_QUARANTINE_SHARE"
            )
        if parts and blocked_rows:
            parts.append(f"the bad rows are in {blocked_rows}")
        return " | ".join(parts) or "passed"


def bad_rows_query(outcome: SuiteOutcome, table: str = BATCH_TABLE) -> str:
    """The rows of ``table`` that broke a failed critical rule, with a ``rules`` column listing
    the rules each broke (in the suite's order) and a ``broken`` column naming each with the
    value of its column (``close_not_above_1e7: close=1e+308``)."""
    failed = [e for e in outcome.failed_critical if e.condition is not None]
    rows = with_key_counts(
        f"select * from {table}",
        compound_key(load_suite_document(outcome.suite)["expectations"]),
        [e.condition for e in failed],
    )
    if not failed:
        return (
            "select landing_file, ticker, date, close, '' as rules, '' as broken "
            f"from {table} where false"
        )
    rules = ", ".join(f"case when {e.condition} then {literal(e.rule)} end" for e in failed)
    where = " or ".join(e.condition for e in failed)
    return (
        f"select landing_file, ticker, date, close, concat_ws(',', {rules}) as rules, "
        f"concat_ws('; ', {', '.join(_broken(e) for e in failed)}) as broken "
        f"from ({rows}) where {where}"
    )


def _broken(expectation: ExpectationOutcome) -> str:
    """SQL naming the rule a row broke, with its column's value when the rule has one column
    (text in SQL: a date before 1677 or an infinite price never passes through pandas)."""
    column = expectation.column
    if column is None or not _PLAIN_COLUMN.match(column):
        return f"case when {expectation.condition} then {literal(expectation.rule)} end"
    label = literal(f"{expectation.rule}: {column}=")
    return (
        f"case when {expectation.condition} then "
        f"{label} || coalesce(cast({identifier(column)} as varchar), 'null') end"
    )


def audit_price_batch(
    connection: duckdb.DuckDBPyConnection,
    outcome: SuiteOutcome,
    curated_tickers: Collection[str],
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE,
    table: str = BATCH_TABLE,
    run_universe: Collection[str] | None = None,
) -> BatchVerdict:
    """Split the rows that broke critical rules into blocking (curated) and quarantined (other),
    in SQL over ``table``; leaves the view ``bad_rows`` (with a ``curated`` flag) for
    ``write_quarantine``.

    A critical rule that failed without naming rows (a whole-batch rule, or an error) blocks.
    ``run_universe``: the tickers of the run (None: every ticker is the run's); quarantined
    rows of other tickers do not count towards ``max_quarantine_share``.
    """
    connection.execute(
        "create or replace temp table curated_tickers as "
        "select unnest($tickers::varchar[]) as ticker",
        {"tickers": sorted(curated_tickers)},
    )
    connection.execute(
        f"create or replace temp view {BAD_ROWS_VIEW} as "
        f"select bad.*, coalesce(bad.ticker in (select ticker from curated_tickers), false) "
        f"as curated from ({bad_rows_query(outcome, table)}) as bad"
    )

    def fetch(query: str) -> list[dict[str, Any]]:
        cursor = connection.execute(query)
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    counts = dict(
        connection.execute(
            f"select curated, count(*) from {BAD_ROWS_VIEW} group by curated"
        ).fetchall()
    )
    preview_sql = (
        f"select {', '.join(PREVIEW_COLUMNS)} from {BAD_ROWS_VIEW} where {{}} "
        f"order by ticker, date limit {settings.PREVIEW_ROWS}"
    )
    blocking_rules = [
        rule
        for (rule,) in connection.execute(
            f"select distinct unnest(string_split(rules, ',')) as rule from {BAD_ROWS_VIEW} "
            "where curated order by rule"
        ).fetchall()
    ]
    blocking_preview = fetch(preview_sql.format("curated"))
    batch_failures = [e.rule for e in outcome.failed_critical if e.condition is None]
    if batch_failures:  # one more blocking "row" standing for the whole batch
        blocking_preview.append(
            {
                "ticker": "(batch)",
                "date": None,
                "close": None,
                "rules": ",".join(batch_failures),
                "broken": ",".join(batch_failures),
                "landing_file": None,
            }
        )
        blocking_rules = sorted({*blocking_rules, *batch_failures})
    tickers = connection.execute(
        f"select distinct ticker from {BAD_ROWS_VIEW} where not curated order by ticker"
    ).fetchall()
    quarantined_counts = connection.execute(
        f"select ticker, count(*) as rows from {BAD_ROWS_VIEW} where not curated "
        f"group by ticker order by rows desc, ticker limit {NAMED_TICKERS}"
    ).fetchall()
    outside_run = 0
    if run_universe is not None:
        connection.execute(
            "create or replace temp table run_universe as "
            "select unnest($tickers::varchar[]) as ticker",
            {"tickers": sorted(run_universe)},
        )
        (outside_run,) = connection.execute(
            f"select count(*) from {BAD_ROWS_VIEW} where not curated "
            "and ticker not in (select ticker from run_universe)"
        ).fetchone()
    return BatchVerdict(
        outcome=outcome,
        quarantined_outside_run=int(outside_run),
        blocking_count=counts.get(True, 0) + (1 if batch_failures else 0),
        blocking_preview=tuple(blocking_preview),
        blocking_rules=tuple(blocking_rules),
        quarantined_count=counts.get(False, 0),
        quarantined_preview=tuple(fetch(preview_sql.format("not curated"))),
        quarantined_tickers=tuple(str(ticker) for (ticker,) in tickers),
        max_quarantine_share=max_quarantine_share,
        quarantined_counts=tuple((str(ticker), int(count)) for ticker, count in quarantined_counts),
    )


def write_quarantine(
    connection: duckdb.DuckDBPyConnection, path: Path, run_id: str, quarantined_at: datetime
) -> None:
    """Write the quarantined rows of the last ``audit_price_batch`` on ``connection`` to ``path``
    as Parquet in the ledger's ``QUARANTINE_SCHEMA``, straight from DuckDB."""
    connection.execute(
        f"""
        copy (
            select landing_file, ticker, date::date as date, close::double as close, rules,
                $run_id as run_id, $quarantined_at::timestamptz as quarantined_at
            from {BAD_ROWS_VIEW} where not curated order by ticker, date
        ) to {literal(str(path))} (format parquet)
        """,
        {"run_id": run_id, "quarantined_at": quarantined_at},
    )


def write_bad_rows(connection: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Write every bad row of the last ``audit_price_batch`` on ``connection`` (curated ones,
    which block, and the others, quarantine candidates) to ``path`` as Parquet: what a blocked
    audit points the user at, since it records nothing in the ledger."""
    connection.execute(
        f"""
        copy (
            select landing_file, ticker, date::date as date, close::double as close, rules,
                curated
            from {BAD_ROWS_VIEW} order by ticker, date
        ) to {literal(str(path))} (format parquet)
        """
    )
