"""Great Expectations suites as Dagster asset checks (our own: dagster-ge does not work with GX 1).

- ``raw_prices_audit`` guards ``landed_prices``: it validates the landing rows not yet accepted
  (only the new batch, so its cost grows with new data, not history), quarantines bad rows of
  tickers outside the companies seed, and records the accepted files in the audit ledger that
  dbt reads. Critical failures on curated tickers are blocking ERROR checks.
- ``warehouse_suites`` validates each seed and mart after dbt built them: one blocking check
  per dataset for its critical expectations, one WARN check for the rest.
Check metadata carries unexpected counts, a few bad rows and the Data Docs location. Each step
builds the Data Docs of its validations once, after the last one.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg
import duckdb

from orchestration import settings
from orchestration.extract.universe import load_companies
from orchestration.paths import COMPANIES_SEED, data_paths

if TYPE_CHECKING:
    import pandas as pd

    from orchestration.quality.outcomes import SuiteOutcome

# pandas, numpy and the audit modules are imported inside the check functions: the code
# location (and so `dagster dev` and every run) loads without them.

LANDED_PRICES = dg.AssetKey("landed_prices")
PREVIEW_ROWS = 10
# The fct_daily_prices suite looks at the latest rows only: older ones were audited on landing.
RECENT_PRICE_DAYS = 45
FRESHNESS_DAYS = 4


@dataclass(frozen=True)
class GuardedTable:
    """A warehouse table with its suite, and the SQL that reads the rows to validate."""

    suite: str
    asset_key: dg.AssetKey
    query: str


def _table(suite: str, schema: str, table: str, query: str | None = None) -> GuardedTable:
    return GuardedTable(
        suite, dg.AssetKey([schema, table]), query or f"select * from {schema}.{table}"
    )


GUARDED_TABLES: tuple[GuardedTable, ...] = (
    _table("seed_companies", "seeds", "companies"),
    _table("seed_ai_hosting_contracts", "seeds", "ai_hosting_contracts"),
    _table("seed_hyperscaler_capex_quarterly", "seeds", "hyperscaler_capex_quarterly"),
    _table("seed_hyperscaler_capex_guidance", "seeds", "hyperscaler_capex_guidance"),
    _table("seed_bitcoin_halvings", "seeds", "bitcoin_halvings"),
    _table("seed_market_events", "seeds", "market_events"),
    _table("seed_ticker_changes", "seeds", "ticker_changes"),
    _table(
        "mart_fct_daily_prices",
        "marts",
        "fct_daily_prices",
        "select * from marts.fct_daily_prices where date >= "
        f"(select max(date) from marts.fct_daily_prices) - interval {RECENT_PRICE_DAYS} day",
    ),
    _table("mart_miner_ai_pivot_performance", "marts", "miner_ai_pivot_performance"),
    _table("mart_fct_contract_announcement_returns", "marts", "fct_contract_announcement_returns"),
    _table("mart_miner_pivot_index_daily", "marts", "miner_pivot_index_daily"),
    _table("mart_hyperscaler_capex_quarterly", "marts", "hyperscaler_capex_quarterly"),
    _table("mart_hyperscaler_capex_guidance", "marts", "hyperscaler_capex_guidance"),
    _table("mart_capex_vs_miner_returns", "marts", "capex_vs_miner_returns"),
)


def critical_check_name(suite: str) -> str:
    return f"gx_{suite}_critical"


def warnings_check_name(suite: str) -> str:
    return f"gx_{suite}_warnings"


def suite_check_results(
    outcome: "SuiteOutcome", asset_key: dg.AssetKey, frame: "pd.DataFrame", docs: str
) -> list[dg.AssetCheckResult]:
    """The blocking (critical) and WARN (warnings) results of one suite's outcome.

    ``frame`` holds the validated rows indexed by their position in the validated frame (a
    default index), or at least the rows the outcome names first (a chunked audit's preview).
    """
    results = []
    for check_name, failed, severity in (
        (critical_check_name(outcome.suite), outcome.failed_critical, dg.AssetCheckSeverity.ERROR),
        (warnings_check_name(outcome.suite), outcome.failed_warnings, dg.AssetCheckSeverity.WARN),
    ):
        metadata: dict[str, dg.MetadataValue] = {
            "suite": dg.MetadataValue.text(f"expectations/{outcome.suite}.json"),
            "rows_validated": dg.MetadataValue.int(outcome.row_count),
            "suite_expectations": dg.MetadataValue.int(len(outcome.expectations)),
            "suite_passed": dg.MetadataValue.int(outcome.passed_count),
            "suite_failed": dg.MetadataValue.int(outcome.failed_count),
            "failed_expectations": dg.MetadataValue.json([e.describe() for e in failed]),
            "unexpected_counts": dg.MetadataValue.json(
                {e.rule: e.unexpected_count for e in failed}
            ),
            "data_docs": dg.MetadataValue.path(docs),
        }
        bad_rows = sorted({row for e in failed for row in e.unexpected_rows})[:PREVIEW_ROWS]
        if bad_rows:
            metadata["bad_rows"] = dg.MetadataValue.md(frame.loc[bad_rows].to_markdown(index=False))
        results.append(
            dg.AssetCheckResult(
                check_name=check_name,
                asset_key=asset_key,
                passed=not failed,
                severity=severity,
                metadata=metadata,
                description="; ".join(e.describe() for e in failed) or None,
            )
        )
    return results


def _suite_specs() -> list[dg.AssetCheckSpec]:
    specs = []
    for table in GUARDED_TABLES:
        specs.append(
            dg.AssetCheckSpec(
                critical_check_name(table.suite),
                asset=table.asset_key,
                blocking=True,
                description=f"Critical expectations of expectations/{table.suite}.json (blocking).",
            )
        )
        specs.append(
            dg.AssetCheckSpec(
                warnings_check_name(table.suite),
                asset=table.asset_key,
                description=f"Warning expectations of expectations/{table.suite}.json.",
            )
        )
    return specs


def validation_parameters(warehouse: duckdb.DuckDBPyConnection) -> dict[str, "pd.Timestamp"]:
    """Values of the suites' $PARAMETERs: today, and the freshness floor from the as-of date."""
    import pandas as pd

    (as_of,) = warehouse.execute("select as_of_date from intermediate.int_as_of_date").fetchall()[0]
    return {
        "today": pd.Timestamp(datetime.now(UTC).date()),
        "fresh_since": pd.Timestamp(as_of) - timedelta(days=FRESHNESS_DAYS),
    }


@dg.multi_asset_check(specs=_suite_specs(), can_subset=True, name="warehouse_suites")
def warehouse_suites(context: dg.AssetCheckExecutionContext):
    """Validate each selected seed and mart of the warehouse against its suite."""
    from orchestration.quality.gx_runner import GxValidator

    paths = data_paths()
    validator = GxValidator(paths.quality)
    selected = context.selected_asset_check_keys
    results: list[dg.AssetCheckResult] = []
    try:
        with duckdb.connect(
            str(paths.warehouse), read_only=True, config=settings.duckdb_config()
        ) as warehouse:
            parameters = validation_parameters(warehouse)
            for table in GUARDED_TABLES:
                key = dg.AssetCheckKey(table.asset_key, critical_check_name(table.suite))
                if key not in selected:
                    continue
                frame = warehouse.sql(table.query).df()
                outcome = validator.validate(table.suite, frame, parameters)
                context.log.info(
                    f"{table.suite}: {outcome.passed_count} passed, {outcome.failed_count} failed"
                )
                results.extend(
                    suite_check_results(
                        outcome, table.asset_key, frame, str(validator.data_docs_index)
                    )
                )
    finally:
        # Once for the step, also when a validation raised: the docs show what did run.
        validator.build_data_docs()
    yield from results


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "gx_raw_prices_critical",
            asset=LANDED_PRICES,
            blocking=True,
            description=(
                "Critical expectations of expectations/raw_prices.json on the landed rows not "
                "yet accepted. Curated tickers' bad rows block; others' are quarantined."
            ),
        ),
        dg.AssetCheckSpec(
            "gx_raw_prices_warnings",
            asset=LANDED_PRICES,
            description="Warning expectations of expectations/raw_prices.json (jumps).",
        ),
        dg.AssetCheckSpec(
            "raw_prices_quarantine",
            asset=LANDED_PRICES,
            description="Rows of tickers outside the companies seed set aside by the audit.",
        ),
    ],
    name="raw_prices_audit",
)
def raw_prices_audit(context: dg.AssetCheckExecutionContext):
    """Audit the pending landing files; on success, accept them into the ledger dbt reads."""
    import pandas as pd

    from orchestration.quality.gx_runner import GxValidator
    from orchestration.quality.ledger import (
        audit_chunk_rows,
        iter_pending_chunks,
        pending_landing_files,
        plan_ticker_chunks,
        record_audit,
    )
    from orchestration.quality.price_audit import DEFAULT_MAX_QUARANTINE_SHARE, audit_in_chunks

    paths = data_paths()
    pending = pending_landing_files(paths.landing_prices, paths.quality)
    chunks = plan_ticker_chunks(pending, audit_chunk_rows())
    curated = {company.ticker for company in load_companies(COMPANIES_SEED)}
    max_share = settings.parse_float(
        settings.pick(None, settings.ENV_MAX_QUARANTINE_SHARE),
        "max_quarantine_share",
        DEFAULT_MAX_QUARANTINE_SHARE,
    )
    validator = GxValidator(paths.quality)
    parameters = {"today": pd.Timestamp(datetime.now(UTC).date())}
    try:
        audit = audit_in_chunks(
            iter_pending_chunks(pending, chunks),
            lambda batch: validator.validate("raw_prices", batch, parameters),
            curated,
            max_share,
            planned_rows=sum(chunk.landed_rows for chunk in chunks),
        )
    finally:
        validator.build_data_docs()
    if audit.outcome is None:
        for name in (
            "gx_raw_prices_critical",
            "gx_raw_prices_warnings",
            "raw_prices_quarantine",
        ):
            yield dg.AssetCheckResult(
                check_name=name,
                asset_key=LANDED_PRICES,
                passed=True,
                metadata={"pending_landing_files": dg.MetadataValue.int(len(pending))},
                description="nothing new to audit",
            )
        if pending:  # files without rows: nothing to check in them
            record_audit(
                paths.quality,
                accepted=pending,
                quarantined=pd.DataFrame(),
                run_id=context.run.run_id,
                audited_at=datetime.now(UTC),
            )
        return
    context.log.info(
        f"raw_prices: {audit.outcome.row_count} rows of {len(pending)} landing files "
        f"validated in {audit.chunks} chunks"
    )
    outcome, verdict = audit.outcome, audit.verdict()
    if verdict.passes:
        record_audit(
            paths.quality,
            accepted=pending,
            quarantined=verdict.quarantined_rows,
            run_id=context.run.run_id,
            audited_at=datetime.now(UTC),
        )
    docs = str(validator.data_docs_index)
    critical, warnings = suite_check_results(outcome, LANDED_PRICES, audit.preview_rows, docs)
    yield dg.AssetCheckResult(
        check_name=critical.check_name,
        asset_key=LANDED_PRICES,
        passed=verdict.passes,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            **critical.metadata,
            "pending_landing_files": dg.MetadataValue.json([path.name for path in pending]),
            "audit_chunks": dg.MetadataValue.int(audit.chunks),
            "blocking_rows": dg.MetadataValue.int(len(verdict.blocking_rows)),
            "quarantined_rows": dg.MetadataValue.int(verdict.quarantined_count),
        },
        description=None if verdict.passes else verdict.failure_message(),
    )
    yield warnings
    yield dg.AssetCheckResult(
        check_name="raw_prices_quarantine",
        asset_key=LANDED_PRICES,
        passed=verdict.quarantined_count == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined_rows": dg.MetadataValue.int(verdict.quarantined_count),
            "quarantine_share": dg.MetadataValue.float(verdict.quarantine_share),
            "max_quarantine_share": dg.MetadataValue.float(verdict.max_quarantine_share),
            "tickers": dg.MetadataValue.json(sorted(set(verdict.quarantined_rows["ticker"]))),
            "preview": dg.MetadataValue.md(
                verdict.quarantined_rows.head(PREVIEW_ROWS)[
                    ["ticker", "date", "close", "rules"]
                ].to_markdown(index=False)
                if not verdict.quarantined_rows.empty
                else "none"
            ),
        },
        description=(
            f"{verdict.quarantined_count} rows set aside (see marts.quarantined_prices)"
            if verdict.quarantined_count
            else None
        ),
    )
