from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from orchestration.report.chart import png_as_markdown, render_pivot_index_chart

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def index_frame() -> pd.DataFrame:
    dates = pd.date_range("2025-01-02", periods=30, freq="B")
    rows = [
        {"date": day, "basket": basket, "index_level": 100 + step * (i + 1)}
        for i, basket in enumerate(
            ["pivoted_miners", "other_miners", "hyperscalers", "nvda", "btc"]
        )
        for step, day in enumerate(dates)
    ]
    return pd.DataFrame(rows)


def test_chart_is_written_as_png_and_inlined_for_the_ui(tmp_path: Path) -> None:
    announcements = pd.DataFrame(
        {"ticker": ["IREN", "CIFR"], "event_date": pd.to_datetime(["2025-01-10", None])}
    )
    path = render_pivot_index_chart(
        index_frame(),
        announcements,
        tmp_path / "c" / "chart.png",
        as_of="2025-02-12",
        price_sources="csv",
    )
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert path.stat().st_size > 10_000
    markdown = png_as_markdown(path)
    assert markdown.startswith("![chart](data:image/png;base64,iVBOR")


def test_an_empty_index_is_refused_with_a_reason(tmp_path: Path) -> None:
    empty = pd.DataFrame(columns=["date", "basket", "index_level"])
    with pytest.raises(ValueError, match="no date on which every basket"):
        render_pivot_index_chart(
            empty,
            pd.DataFrame(columns=["ticker", "event_date"]),
            tmp_path / "x.png",
            as_of="2025-02-12",
            price_sources="csv",
        )


def test_the_chart_asset_reports_an_empty_index_instead_of_failing(
    tmp_path: Path, monkeypatch
) -> None:
    """A market-wide run without the curated baskets has no index: the run must still pass."""
    import dagster as dg
    import duckdb

    from orchestration.report.assets import pivot_index_chart

    warehouse = tmp_path / "warehouse" / "hashpivot.duckdb"
    warehouse.parent.mkdir()
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("create schema marts")
        connection.execute(
            "create table marts.miner_pivot_index_daily (date date, basket varchar, index_level double)"
        )
        connection.execute(
            "create table marts.fct_contract_announcement_returns "
            "(ticker varchar, counterparty varchar, event_date date)"
        )
        connection.execute("create table marts.fct_daily_prices as select 'csv' as price_source")
        connection.execute("create schema intermediate")
        connection.execute(
            "create table intermediate.int_as_of_date as select date '2025-04-04' as as_of_date"
        )
    monkeypatch.setenv("HASHPIVOT_DATA_DIR", str(tmp_path))
    from orchestration.engine import WarehouseEngine

    result = dg.materialize(
        [pivot_index_chart],
        resources={"engine": WarehouseEngine()},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("pivot_index_chart")
    assert "no chart" in materialization.metadata["chart"].value


def test_the_chart_is_log_scale_report_sized_and_demo_labelled() -> None:
    import matplotlib.pyplot as plt

    from orchestration.report.chart import ANNOUNCEMENT_COLOUR, BASKET_STYLES, pivot_index_figure

    announcements = pd.DataFrame(
        {
            "ticker": ["IREN", "CIFR", "WULF"],
            "counterparty": ["Microsoft", "AWS", None],
            "event_date": pd.to_datetime(["2025-01-10", "2025-01-10", "2025-01-11"]),
        }
    )
    figure = pivot_index_figure(
        index_frame(), announcements, as_of="2025-02-12", price_sources="demo", is_demo=True
    )
    try:
        main, side = figure.axes
        assert main.get_yscale() == "log"
        assert figure.get_size_inches()[0] * figure.dpi >= 1600
        assert main.get_title().startswith("DEMO, SYNTHETIC PRICES")
        listed = side.texts[0].get_text()
        assert " 1  2025-01-10  IREN Microsoft" in listed
        assert " 3  2025-01-11  WULF" in listed
        # Three announcements a day apart (the gap is 3.5% of 41 days): three label rows.
        heights = sorted(
            {round(t.xyann[1] if hasattr(t, "xyann") else t.xy[1], 3) for t in main.texts}
        )
        assert len(heights) == 3
        footnote = figure.texts[0].get_text()
        assert "As of 2025-02-12. Prices: demo." in footnote
        assert "first date on which every basket has a return" in footnote
        colours = {style["color"].lower() for style in BASKET_STYLES.values()}
        assert len(colours) == len(BASKET_STYLES)
        assert ANNOUNCEMENT_COLOUR.lower() not in colours
    finally:
        plt.close(figure)


def test_label_rows_stagger_close_dates_and_reuse_free_rows() -> None:
    from orchestration.report.chart import label_rows

    days = pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03", "2025-03-01", "2025-03-02"])
    assert label_rows(list(days), pd.Timedelta(days=5), rows=4) == [0, 1, 2, 0, 1]
    # More close dates than rows: the row whose last label is oldest is reused.
    crowded = pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03"])
    assert label_rows(list(crowded), pd.Timedelta(days=5), rows=2) == [0, 1, 0]
