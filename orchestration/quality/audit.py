"""The audit of landed prices as a Dagster asset: its output is the audit ledger, the only way
landed rows reach the warehouse (write, audit, publish).

``price_audit`` validates the landing rows not yet accepted (only the new batch, so its cost
grows with new data, not history) against ``expectations/raw_prices.json``, sets aside bad rows
of tickers outside the companies seed, and, when nothing blocks, records the accepted files and
the quarantined rows in the ledger. Its two outputs are the dbt sources ``quality.ledger_accepted``
and ``quality.ledger_quarantine``, so the lineage shows what gates the warehouse. Critical
failures on curated tickers fail its blocking check, which stops dbt in the same run.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from orchestration import settings
from orchestration.extract.universe import load_companies
from orchestration.paths import COMPANIES_SEED, data_paths
from orchestration.quality.checks import markdown_table, suite_check_results
from orchestration.run_lock import hold_run_lock

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
    from orchestration.extract.retractions import ensure_retractions
    from orchestration.quality.ledger import ensure_ledger, pending_landing_files

    hold_run_lock(context)
    paths = data_paths()
    ensure_ledger(paths.ledger)
    ensure_retractions(paths.landing_retractions)
    pending = pending_landing_files(paths.landing_prices, paths.ledger)
    scratch = paths.audit_scratch
    import duckdb

    try:
        yield from _audit(context, paths, pending, scratch)
    except duckdb.OutOfMemoryException as error:
        message = settings.out_of_memory_message("the price audit (step price_audit)", error)
        raise dg.Failure(description=message) from error
    finally:
        _remove_database(scratch)


def _remove_database(database: Path) -> None:
    for path in (database, database.with_name(database.name + ".wal")):
        path.unlink(missing_ok=True)


def _audit(context: dg.AssetExecutionContext, paths, pending: list[Path], scratch: Path):
    import duckdb

    from orchestration.atomic import write_once
    from orchestration.extract.retractions import retraction_files
    from orchestration.quality.gx_runner import GxValidator
    from orchestration.quality.ledger import record_audit, stage_pending_batch
    from orchestration.quality.price_audit import (
        BATCH_TABLE,
        audit_price_batch,
        write_bad_rows,
        write_quarantine,
    )

    pending_count = dg.MetadataValue.int(len(pending))
    rows = 0
    config = settings.duckdb_config(scratch.parent / "spill")
    if pending:
        scratch.parent.mkdir(parents=True, exist_ok=True)
        _remove_database(scratch)
        with duckdb.connect(str(scratch), config=config) as connection:
            # Rows a later retraction superseded do not count: they are not judged again.
            rows = stage_pending_batch(
                connection,
                pending,
                BATCH_TABLE,
                retraction_files(paths.landing_retractions),
            )
    if not rows:
        if pending:  # files without rows: nothing to check in them
            record_audit(
                paths.ledger,
                accepted=pending,
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
    curated = {company.ticker for company in load_companies(COMPANIES_SEED)}
    validator = GxValidator(paths.quality, paths.data_docs_index, scratch, config)
    try:
        outcome = validator.validate(
            "raw_prices",
            f"select * from {BATCH_TABLE}",
            {"today": datetime.now(UTC).date()},
            order_by=["ticker", "date"],
        )
    finally:
        validator.build_data_docs()
    context.log.info(f"raw_prices: {outcome.row_count} rows of {len(pending)} landing files")
    audited_at = datetime.now(UTC)
    with duckdb.connect(str(scratch), config=config) as connection:
        verdict = audit_price_batch(
            connection,
            outcome,
            curated,
            settings.MAX_QUARANTINE_SHARE.value(),
            run_universe=_run_universe(paths.run_report(context.run.run_id)),
        )
        if verdict.passes:
            record_audit(
                paths.ledger,
                accepted=pending,
                write_quarantine=(
                    (
                        lambda path: write_quarantine(
                            connection, path, context.run.run_id, audited_at
                        )
                    )
                    if verdict.quarantined_count
                    else None
                ),
                run_id=context.run.run_id,
                audited_at=audited_at,
            )
            blocked_rows = None
        else:
            # A blocked audit records nothing in the ledger: its bad rows go where the
            # message points, for the user to inspect.
            blocked_rows = paths.blocked_rows(context.run.run_id)
            with write_once(blocked_rows) as temporary:
                write_bad_rows(connection, temporary)
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
    critical, warnings = suite_check_results(outcome, LEDGER_ACCEPTED, docs)
    yield dg.AssetCheckResult(
        check_name=critical.check_name,
        asset_key=LEDGER_ACCEPTED,
        passed=verdict.passes,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            **critical.metadata,
            "pending_landing_files": dg.MetadataValue.json([path.name for path in pending]),
            "blocking_rows": dg.MetadataValue.int(verdict.blocking_count),
            "quarantined_rows": dg.MetadataValue.int(verdict.quarantined_count),
        },
        description=None if verdict.passes else verdict.failure_message(str(blocked_rows)),
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
            "quarantined_rows_outside_run_universe": dg.MetadataValue.int(
                verdict.quarantined_outside_run
            ),
            "max_quarantine_share": dg.MetadataValue.float(verdict.max_quarantine_share),
            "tickers": dg.MetadataValue.json(list(verdict.quarantined_tickers)),
            "preview": dg.MetadataValue.md(
                markdown_table(verdict.quarantined_preview) if verdict.quarantined_count else "none"
            ),
        },
        description=(
            f"{verdict.quarantined_count} rows set aside (see marts.quarantined_prices)"
            if verdict.quarantined_count
            else None
        ),
    )


def _run_universe(extraction_report: Path) -> set[str] | None:
    """The tickers this run's extraction was asked for (its report, written by the
    landed_prices step); None when the audit runs without it (materialized on its own)."""
    if not extraction_report.exists():
        return None
    summary = json.loads(extraction_report.read_text())
    return set(summary["source_by_ticker"]) | set(summary["failed_tickers"])
