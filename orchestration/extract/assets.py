"""Dagster wiring of the price extraction: the ``landed_prices`` asset and its schedule."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from orchestration import settings
from orchestration.atomic import write_text_replacing
from orchestration.extract.universe import OTHER_SEGMENT
from orchestration.paths import COMPANIES_SEED, data_paths
from orchestration.run_lock import hold_run_lock

if TYPE_CHECKING:
    from orchestration.extract.options import ExtractionOptions
    from orchestration.extract.prices import ExtractionReport

# The extraction modules (pandas, pyarrow) are imported when the asset runs, not when the
# code location loads: `dagster dev` and every run pay for the definitions' imports.


def _launchpad_config() -> type[dg.Config]:
    """The launchpad form of ``landed_prices``: every extraction setting (empty = its
    environment variable, then its default, as the description says), plus the two options
    only a hand-started run needs."""
    from pydantic import Field, create_model

    fields: dict[str, tuple[object, object]] = {
        setting.name: (str | None, Field(default=None, description=setting.described))
        for setting in settings.EXTRACTION_SETTINGS
    }
    fields["backfill"] = (
        bool,
        Field(
            default=False,
            description="ignore watermarks and re-fetch every ticker from `start` (needs start)",
        ),
    )
    fields["refetch_days"] = (
        int,
        Field(
            default=7,
            description="calendar days before each ticker's latest landed date fetched again, "
            "to catch revisions",
        ),
    )
    return create_model(  # type: ignore[call-overload]
        "PriceExtractionConfig", __base__=dg.Config, __doc__="Price extraction options.", **fields
    )


PriceExtractionConfig = _launchpad_config()


def extraction_options(config: PriceExtractionConfig, environ=None) -> "ExtractionOptions":
    """Turn launchpad config plus environment into validated extraction options."""
    from orchestration.extract.options import ExtractionOptions

    return ExtractionOptions(
        **{
            setting.name: setting.value(getattr(config, setting.name), environ)
            for setting in settings.EXTRACTION_SETTINGS
        },
        backfill=config.backfill,
        refetch_days=config.refetch_days,
    )


@dg.asset(
    group_name="extract",
    kinds={"python", "parquet"},
    description=(
        "Daily OHLCV prices of the ticker universe (the companies seed, or every ticker of the "
        "source with universe 'all'), landed as immutable Parquet files under "
        "`<data dir>/landing/prices/`. Source: yfinance, a CSV folder, or labelled demo data. "
        "Only new or revised rows are landed; the warehouse derives its raw price table from "
        "these files, latest fetch winning per ticker and date."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "curated_price_sources_readable",
            asset="landed_prices",
            blocking=True,
            description=(
                "Every curated ticker's source could be read: a malformed, empty or duplicated "
                "file of a ticker in the companies seed blocks publishing (a missing file does not)."
            ),
        )
    ],
)
def landed_prices(
    context: dg.AssetExecutionContext, config: PriceExtractionConfig
) -> dg.MaterializeResult:
    from orchestration.extract.prices import ExtractionError, extract_prices

    hold_run_lock(context)
    paths = data_paths()
    try:
        options = extraction_options(config)
    except (settings.SettingsError, ExtractionError) as error:
        raise dg.Failure(description=str(error)) from error
    try:
        report = extract_prices(
            options,
            paths=paths,
            companies_seed=COMPANIES_SEED,
            run_id=context.run_id,
            fetched_at=datetime.now(UTC),
        )
    except ExtractionError as error:
        raise dg.Failure(description=str(error)) from error
    for warning in report.warnings:
        context.log.warning(warning)
    for ticker, reason in report.failed.items():
        context.log.warning(f"{ticker} failed: {reason}")
    report_file = paths.run_report(context.run_id)
    write_text_replacing(report_file, json.dumps(extraction_summary(report), default=str))
    return dg.MaterializeResult(
        metadata=report_metadata(report, report_file), check_results=[readability_check(report)]
    )


def readability_check(report: "ExtractionReport") -> dg.AssetCheckResult:
    """Fails when a curated ticker's source exists but cannot be read (bad input)."""
    curated = {company.ticker for company in report.universe if company.segment != OTHER_SEGMENT}
    unreadable = {t: reason for t, reason in report.unreadable.items() if t in curated}
    return dg.AssetCheckResult(
        check_name="curated_price_sources_readable",
        passed=not unreadable,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "unreadable_curated": dg.MetadataValue.json(unreadable),
            "unreadable_other": dg.MetadataValue.json(
                {t: r for t, r in report.unreadable.items() if t not in curated}
            ),
        },
        description="; ".join(f"{t}: {r}" for t, r in unreadable.items()) or None,
    )


# Rows of each table in the asset's metadata: a market-wide universe has thousands of tickers,
# which the UI should summarise, not list (the full lists are in the run's report file).
METADATA_TABLE_ROWS = 20
EXAMPLE_TICKERS = 10


def extraction_summary(report: "ExtractionReport") -> dict[str, object]:
    """Everything a run's summary needs, whole (every ticker): written to the run's report
    file, which `hashpivot run` reads."""
    return {
        "price_source": (
            report.source if report.source != "demo" else "demo (SYNTHETIC prices, not market data)"
        ),
        "requested_source": report.requested_source,
        "source_by_ticker": report.source_by_ticker,
        "rows_fetched": report.rows_fetched if report.rows_fetched is not None else "streamed",
        "rows_landed": report.rows_landed,
        "first_date_landed": str(report.first_date or "-"),
        "last_date_landed": str(report.last_date or "-"),
        "failed_tickers": report.failed,
        "warnings": "\n".join(f"- **{w}**" for w in report.warnings) or "none",
    }


def _table(columns: list[tuple[str, str]], rows: list[dict]) -> dg.MetadataValue:
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns])
    return dg.MetadataValue.table([dg.TableRecord(row) for row in rows], schema=schema)


def report_metadata(report: "ExtractionReport", report_file: Path) -> dict[str, dg.MetadataValue]:
    """Asset metadata: counts, date range, tickers per source, failures and a preview, each
    list bounded; the whole report is in ``report_file``."""
    summary = extraction_summary(report)
    by_source: dict[str, list[str]] = {}
    for ticker, source in sorted(report.source_by_ticker.items()):
        by_source.setdefault(source, []).append(ticker)
    largest = sorted(report.rows_landed_by_ticker.items(), key=lambda item: -item[1])
    metadata: dict[str, dg.MetadataValue] = {
        "price_source": dg.MetadataValue.text(str(summary["price_source"])),
        "requested_source": dg.MetadataValue.text(report.requested_source),
        "warnings": dg.MetadataValue.md(str(summary["warnings"])),
        "notes": dg.MetadataValue.md("\n".join(f"- {note}" for note in report.notes) or "none"),
        "universe_size": dg.MetadataValue.int(len(report.universe)),
        "rows_fetched": dg.MetadataValue.text(str(summary["rows_fetched"])),
        "rows_landed": dg.MetadataValue.int(report.rows_landed),
        # Landed rows the source no longer holds, recorded under landing/retractions/.
        "rows_retracted": dg.MetadataValue.int(sum(report.rows_retracted_by_ticker.values())),
        "first_date_landed": dg.MetadataValue.text(str(summary["first_date_landed"])),
        "last_date_landed": dg.MetadataValue.text(str(summary["last_date_landed"])),
        "tickers_by_source": _table(
            [("source", "string"), ("tickers", "int"), ("examples", "string")],
            [
                {
                    "source": source,
                    "tickers": len(tickers),
                    "examples": " ".join(tickers[:EXAMPLE_TICKERS])
                    + (
                        f" ... and {len(tickers) - EXAMPLE_TICKERS} more"
                        if len(tickers) > EXAMPLE_TICKERS
                        else ""
                    ),
                }
                for source, tickers in by_source.items()
            ],
        ),
        "tickers_landed": dg.MetadataValue.int(len(report.rows_landed_by_ticker)),
        "largest_landings": _table(
            [("ticker", "string"), ("rows", "int")],
            [{"ticker": t, "rows": n} for t, n in largest[:METADATA_TABLE_ROWS]],
        ),
        "failed_count": dg.MetadataValue.int(len(report.failed)),
        "report": dg.MetadataValue.path(str(report_file)),
        "landing_files": dg.MetadataValue.md(
            "\n".join(f"- `{path.name}`" for path in report.landing_files) or "none (nothing new)"
        ),
        "preview": dg.MetadataValue.md(
            report.preview.to_markdown(index=False)
            if not report.preview.empty
            else "nothing new landed"
        ),
    }
    if report.failed:
        metadata["failed_tickers"] = _table(
            [("ticker", "string"), ("reason", "string")],
            [
                {"ticker": t, "reason": r}
                for t, r in sorted(report.failed.items())[:METADATA_TABLE_ROWS]
            ],
        )
    return metadata


extract_job = dg.define_asset_job(
    name="extract_prices_job",
    selection=dg.AssetSelection.groups("extract"),
    description="Land the latest prices only.",
)
