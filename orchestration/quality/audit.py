"""The audit of landed prices as a Dagster asset: its output is the audit ledger, the only way
landed rows reach the warehouse (write, audit, publish).

``price_audit`` validates the landing rows not yet accepted (only the new batch, so its cost
grows with new data, not history) against ``expectations/raw_prices.json``, sets aside bad rows
of tickers outside the companies seed, and, when nothing blocks, records the accepted files and
the quarantined rows in the ledger. Its two outputs are the dbt sources ``quality.ledger_accepted``
and ``quality.ledger_quarantine``, so the lineage shows what gates the warehouse. Critical
failures on curated tickers fail its blocking check, which stops dbt in the same run.
"""

from datetime import UTC, datetime

import dagster as dg

from orchestration import settings
from orchestration.extract.universe import load_companies
from orchestration.paths import COMPANIES_SEED, data_paths
from orchestration.quality.checks import suite_check_results

LANDED_PRICES = dg.AssetKey("landed_prices")
# The dbt sources of the ledger (dagster-dbt keys a source source_name/table_name).
LEDGER_ACCEPTED = dg.AssetKey(["quality", "ledger_accepted"])
LEDGER_QUARANTINE = dg.AssetKey(["quality", "ledger_quarantine"])
CRITICAL_CHECK = "gx_raw_prices_critical"


@dg.multi_asset(
    name="price_audit",
    group_name="quality",
    specs=[
        dg.AssetSpec(
            LEDGER_ACCEPTED,
            deps=[LANDED_PRICES],
            kinds={"parquet"},
            description=(
                "The landing files the raw_prices audit accepted (append-only Parquet under "
                "the data dir's quality/ledger/accepted): dbt reads landed rows only from them."
            ),
        ),
        dg.AssetSpec(
            LEDGER_QUARANTINE,
            deps=[LANDED_PRICES],
            kinds={"parquet"},
            description=(
                "The landed rows the audit set aside (tickers outside the companies seed that "
                "broke a critical rule), with the rules they broke: kept out of the marts."
            ),
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            CRITICAL_CHECK,
            asset=LEDGER_ACCEPTED,
            blocking=True,
            description=(
                "Critical expectations of expectations/raw_prices.json on the landed rows not "
                "yet accepted. Curated tickers' bad rows block; others' are quarantined."
            ),
        ),
        dg.AssetCheckSpec(
            "gx_raw_prices_warnings",
            asset=LEDGER_ACCEPTED,
            description="Warning expectations of expectations/raw_prices.json (jumps).",
        ),
        dg.AssetCheckSpec(
            "raw_prices_quarantine",
            asset=LEDGER_QUARANTINE,
            description="Rows of tickers outside the companies seed set aside by the audit.",
        ),
    ],
)
def price_audit(context: dg.AssetExecutionContext):
    """Audit the pending landing files; when nothing blocks, accept them into the ledger."""
    import pandas as pd

    from orchestration.quality.gx_runner import GxValidator
    from orchestration.quality.ledger import (
        ensure_ledger,
        iter_pending_chunks,
        pending_landing_files,
        plan_ticker_chunks,
        record_audit,
    )
    from orchestration.quality.price_audit import audit_in_chunks

    paths = data_paths()
    ensure_ledger(paths.ledger)
    pending = pending_landing_files(paths.landing_prices, paths.ledger)
    chunks = plan_ticker_chunks(pending, settings.AUDIT_CHUNK_ROWS.value())
    curated = {company.ticker for company in load_companies(COMPANIES_SEED)}
    max_share = settings.MAX_QUARANTINE_SHARE.value()
    validator = GxValidator(paths.quality, paths.data_docs_index)
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
    pending_count = dg.MetadataValue.int(len(pending))
    if audit.outcome is None:
        if pending:  # files without rows: nothing to check in them
            record_audit(
                paths.ledger,
                accepted=pending,
                quarantined=pd.DataFrame(),
                run_id=context.run.run_id,
                audited_at=datetime.now(UTC),
            )
        yield dg.MaterializeResult(
            asset_key=LEDGER_ACCEPTED,
            metadata={"files_accepted": pending_count, "rows_audited": dg.MetadataValue.int(0)},
        )
        yield dg.MaterializeResult(
            asset_key=LEDGER_QUARANTINE, metadata={"rows_quarantined": dg.MetadataValue.int(0)}
        )
        for name, key in (
            (CRITICAL_CHECK, LEDGER_ACCEPTED),
            ("gx_raw_prices_warnings", LEDGER_ACCEPTED),
            ("raw_prices_quarantine", LEDGER_QUARANTINE),
        ):
            yield dg.AssetCheckResult(
                check_name=name,
                asset_key=key,
                passed=True,
                metadata={"pending_landing_files": pending_count},
                description="nothing new to audit",
            )
        return
    context.log.info(
        f"raw_prices: {audit.outcome.row_count} rows of {len(pending)} landing files "
        f"validated in {audit.chunks} chunks"
    )
    outcome, verdict = audit.outcome, audit.verdict()
    if verdict.passes:
        record_audit(
            paths.ledger,
            accepted=pending,
            quarantined=verdict.quarantined_rows,
            run_id=context.run.run_id,
            audited_at=datetime.now(UTC),
        )
    yield dg.MaterializeResult(
        asset_key=LEDGER_ACCEPTED,
        metadata={
            "files_accepted": dg.MetadataValue.int(len(pending) if verdict.passes else 0),
            "files_blocked": dg.MetadataValue.int(0 if verdict.passes else len(pending)),
            "rows_audited": dg.MetadataValue.int(outcome.row_count),
        },
    )
    yield dg.MaterializeResult(
        asset_key=LEDGER_QUARANTINE,
        metadata={
            "rows_quarantined": dg.MetadataValue.int(
                verdict.quarantined_count if verdict.passes else 0
            )
        },
    )
    docs = str(validator.data_docs_index)
    critical, warnings = suite_check_results(outcome, LEDGER_ACCEPTED, audit.preview_rows, docs)
    yield dg.AssetCheckResult(
        check_name=critical.check_name,
        asset_key=LEDGER_ACCEPTED,
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
        asset_key=LEDGER_QUARANTINE,
        passed=verdict.quarantined_count == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined_rows": dg.MetadataValue.int(verdict.quarantined_count),
            "quarantine_share": dg.MetadataValue.float(verdict.quarantine_share),
            "max_quarantine_share": dg.MetadataValue.float(verdict.max_quarantine_share),
            "tickers": dg.MetadataValue.json(sorted(set(verdict.quarantined_rows["ticker"]))),
            "preview": dg.MetadataValue.md(
                verdict.quarantined_rows.head(settings.PREVIEW_ROWS)[
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
