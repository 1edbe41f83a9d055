"""Dagster wiring of the reports: the pivot-index chart asset."""

import dagster as dg
import duckdb

from orchestration.engine import WarehouseEngine
from orchestration.paths import data_paths
from orchestration.run_lock import hold_run_lock

INDEX_MART = dg.AssetKey(["marts", "miner_pivot_index_daily"])
ANNOUNCEMENTS_MART = dg.AssetKey(["marts", "fct_contract_announcement_returns"])


@dg.asset(
    group_name="reports",
    kinds={"python", "png"},
    deps=[INDEX_MART, ANNOUNCEMENTS_MART],
    description=(
        "PNG chart of marts.miner_pivot_index_daily, one line per basket, with the contract "
        "announcements of marts.fct_contract_announcement_returns marked. Written to "
        "`<data dir>/charts/miner_pivot_index_daily.png` and shown in this asset's metadata."
    ),
)
def pivot_index_chart(
    context: dg.AssetExecutionContext, engine: WarehouseEngine
) -> dg.MaterializeResult:
    # matplotlib and pandas load when a chart is drawn, not when the code location loads.
    from orchestration.report.chart import png_as_markdown, render_pivot_index_chart

    hold_run_lock(context)
    paths = data_paths()
    with duckdb.connect(str(paths.warehouse), read_only=True) as warehouse:
        index = warehouse.sql(
            "select date, basket, index_level from marts.miner_pivot_index_daily"
        ).df()
        announcements = warehouse.sql(
            "select ticker, counterparty, event_date from marts.fct_contract_announcement_returns"
        ).df()
        sources = warehouse.sql(
            "select distinct price_source from marts.fct_daily_prices order by 1"
        ).df()
        (as_of,) = warehouse.execute(
            "select as_of_date from intermediate.int_as_of_date"
        ).fetchone()
    is_demo = "demo" in set(sources["price_source"])
    if index.empty:
        # A universe without every basket (say, a market-wide export with no curated ticker)
        # has no index to draw: say so, and do not fail the run over a missing chart.
        reason = "no chart: miner_pivot_index_daily is empty (no date on which every basket has a return)"
        context.log.warning(reason)
        return dg.MaterializeResult(metadata={"chart": dg.MetadataValue.text(reason)})
    path = render_pivot_index_chart(
        index,
        announcements,
        paths.charts / "miner_pivot_index_daily.png",
        as_of=str(as_of),
        price_sources=", ".join(sources["price_source"]),
        is_demo=is_demo,
    )
    context.log.info(f"wrote {path}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "chart": dg.MetadataValue.md(png_as_markdown(path)),
            "first_date": dg.MetadataValue.text(str(index["date"].min().date())),
            "last_date": dg.MetadataValue.text(str(index["date"].max().date())),
            "announcements_marked": dg.MetadataValue.int(
                int(announcements["event_date"].notna().sum())
            ),
            "demo_data": dg.MetadataValue.bool(is_demo),
        }
    )
