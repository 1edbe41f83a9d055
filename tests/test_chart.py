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
    path = render_pivot_index_chart(index_frame(), announcements, tmp_path / "c" / "chart.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert path.stat().st_size > 10_000
    markdown = png_as_markdown(path)
    assert markdown.startswith("![chart](data:image/png;base64,iVBOR")


def test_an_empty_index_is_refused_with_a_reason(tmp_path: Path) -> None:
    empty = pd.DataFrame(columns=["date", "basket", "index_level"])
    with pytest.raises(ValueError, match="no date on which every basket"):
        render_pivot_index_chart(
            empty, pd.DataFrame(columns=["ticker", "event_date"]), tmp_path / "x.png"
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
            "create table marts.fct_contract_announcement_returns (ticker varchar, event_date date)"
        )
        connection.execute("create table marts.fct_daily_prices as select 'csv' as price_source")
    monkeypatch.setenv("HASHPIVOT_DATA_DIR", str(tmp_path))
    result = dg.materialize([pivot_index_chart], instance=dg.DagsterInstance.ephemeral())
    assert result.success
    (materialization,) = result.asset_materializations_for_node("pivot_index_chart")
    assert "no chart" in materialization.metadata["chart"].value
