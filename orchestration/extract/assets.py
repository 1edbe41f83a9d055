"""Dagster wiring of the price extraction: the ``landed_prices`` asset and its schedule."""

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from orchestration import settings
from orchestration.extract.universe import OTHER_SEGMENT
from orchestration.paths import COMPANIES_SEED, data_paths

if TYPE_CHECKING:
    from orchestration.extract.prices import ExtractionOptions, ExtractionReport

# The extraction modules (pandas, pyarrow) are imported when the asset runs, not when the
# code location loads: `dagster dev` and every run pay for the definitions' imports.


class PriceExtractionConfig(dg.Config):
    """Launchpad options. Empty fields fall back to the HASHPIVOT_* environment, then defaults."""

    source: str | None = None
    csv_dir: str | None = None
    start: str | None = None
    end: str | None = None
    universe: str | None = None
    demo_tickers: int | None = None
    backfill: bool = False
    refetch_days: int = 7
    max_failed_share: float | None = None


def extraction_options(config: PriceExtractionConfig, environ=None) -> "ExtractionOptions":
    """Turn launchpad config plus environment into validated extraction options."""
    from orchestration.extract.prices import ExtractionOptions

    pick = settings.pick
    return ExtractionOptions(
        source=pick(config.source, settings.ENV_PRICE_SOURCE, environ) or "auto",
        csv_dir=settings.parse_path(pick(config.csv_dir, settings.ENV_CSV_DIR, environ)),
        start=settings.parse_date(pick(config.start, settings.ENV_START, environ), "start"),
        end=settings.parse_date(pick(config.end, settings.ENV_END, environ), "end"),
        universe=pick(config.universe, settings.ENV_UNIVERSE, environ) or "seeds",
        demo_tickers=settings.parse_int(
            pick(config.demo_tickers, settings.ENV_DEMO_TICKERS, environ), "demo_tickers", 0
        ),
        backfill=config.backfill,
        refetch_days=config.refetch_days,
        max_failed_share=settings.parse_float(
            pick(config.max_failed_share, settings.ENV_MAX_FAILED_SHARE, environ),
            "max_failed_share",
            0.25,
        ),
    )


@dg.asset(
    group_name="extract",
    kinds={"python", "parquet"},
    description=(
        "Daily OHLCV prices of the ticker universe (the companies seed, or every ticker of the "
        "source with universe 'all'), landed as immutable Parquet files under "
        "<data dir>/landing/prices/. Source: yfinance, a CSV folder, or labelled demo data. "
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

    paths = data_paths()
    try:
        options = extraction_options(config)
    except (settings.SettingsError, ExtractionError) as error:
        raise dg.Failure(description=str(error)) from error
    try:
        report = extract_prices(
            options,
            landing_dir=paths.landing_prices,
            companies_seed=COMPANIES_SEED,
            run_id=context.run_id,
            fetched_at=datetime.now(UTC),
            yfinance_cache=paths.yfinance_cache,
        )
    except ExtractionError as error:
        raise dg.Failure(description=str(error)) from error
    for warning in report.warnings:
        context.log.warning(warning)
    for ticker, reason in report.failed.items():
        context.log.warning(f"{ticker} failed: {reason}")
    return dg.MaterializeResult(
        metadata=report_metadata(report), check_results=[readability_check(report)]
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


def report_metadata(report: "ExtractionReport") -> dict[str, dg.MetadataValue]:
    """Asset metadata: counts, date range, source per ticker, failures and a preview."""
    return {
        "price_source": dg.MetadataValue.text(
            report.source if report.source != "demo" else "demo (SYNTHETIC prices, not market data)"
        ),
        "requested_source": dg.MetadataValue.text(report.requested_source),
        "warnings": dg.MetadataValue.md("\n".join(f"- **{w}**" for w in report.warnings) or "none"),
        "notes": dg.MetadataValue.md("\n".join(f"- {note}" for note in report.notes) or "none"),
        "universe_size": dg.MetadataValue.int(len(report.universe)),
        "rows_fetched": dg.MetadataValue.text(
            str(report.rows_fetched) if report.rows_fetched is not None else "streamed"
        ),
        "rows_landed": dg.MetadataValue.int(report.rows_landed),
        "first_date_landed": dg.MetadataValue.text(str(report.first_date or "-")),
        "last_date_landed": dg.MetadataValue.text(str(report.last_date or "-")),
        "source_by_ticker": dg.MetadataValue.json(report.source_by_ticker),
        "rows_landed_by_ticker": dg.MetadataValue.json(report.rows_landed_by_ticker),
        "failed_tickers": dg.MetadataValue.json(report.failed),
        "failed_count": dg.MetadataValue.int(len(report.failed)),
        "landing_files": dg.MetadataValue.json([str(path) for path in report.landing_files]),
        "preview": dg.MetadataValue.md(
            report.preview.to_markdown(index=False)
            if not report.preview.empty
            else "nothing new landed"
        ),
    }


extract_job = dg.define_asset_job(
    name="extract_prices_job",
    selection=dg.AssetSelection.groups("extract"),
    description="Land the latest prices only.",
)

# US markets close at 16:00 New York time; Yahoo's daily bars settle shortly after.
weekday_after_close_schedule = dg.ScheduleDefinition(
    name="weekday_after_us_close",
    cron_schedule="30 18 * * 1-5",
    execution_timezone="America/New_York",
    target=dg.AssetSelection.all(),
    description="Every weekday at 18:30 New York time: land new prices and rebuild everything.",
)
