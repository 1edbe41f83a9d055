"""The pivot-index chart: each basket's index over time, with contract announcements marked."""

from __future__ import annotations

import base64
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render straight to PNG

import matplotlib.pyplot as plt
import pandas as pd

BASKET_STYLES: dict[str, dict[str, str]] = {
    "pivoted_miners": {"color": "#d62728", "label": "Miners after their first AI/HPC contract"},
    "other_miners": {"color": "#7f7f7f", "label": "Other bitcoin miners"},
    "hyperscalers": {"color": "#1f77b4", "label": "Hyperscalers"},
    "nvda": {"color": "#2ca02c", "label": "NVDA"},
    "btc": {"color": "#ff7f0e", "label": "BTC-USD"},
}


def render_pivot_index_chart(
    index: pd.DataFrame, announcements: pd.DataFrame, path: Path, *, title_note: str = ""
) -> Path:
    """Draw ``index`` (date, basket, index_level) as one line per basket, with a dotted
    vertical line at each announcement's event date (``announcements``: ticker, event_date),
    and write it as a PNG to ``path``. Raises ValueError when there is nothing to draw."""
    if index.empty:
        raise ValueError(
            "miner_pivot_index_daily is empty: no date on which every basket has a return"
        )
    figure, axes = plt.subplots(figsize=(11, 5.5), dpi=110)
    try:
        for basket, rows in index.sort_values("date").groupby("basket", sort=False):
            style = BASKET_STYLES.get(str(basket), {"color": "black", "label": str(basket)})
            axes.plot(rows["date"], rows["index_level"], color=style["color"], label=style["label"])
        first, last = index["date"].min(), index["date"].max()
        in_range = announcements.dropna(subset=["event_date"])
        in_range = in_range[in_range["event_date"].between(first, last)]
        for _, announcement in in_range.iterrows():
            axes.axvline(announcement["event_date"], color="#d62728", alpha=0.35, linestyle=":")
            axes.annotate(
                announcement["ticker"],
                (announcement["event_date"], 1.0),
                xycoords=("data", "axes fraction"),
                rotation=90,
                fontsize=7,
                va="top",
                ha="right",
                color="#d62728",
            )
        axes.axhline(100, color="black", linewidth=0.5)
        axes.set_ylabel("Index (100 = first common date)")
        axes.set_title(f"Bitcoin miners' AI pivot: equal-weighted baskets{title_note}")
        axes.legend(loc="upper left", fontsize=8)
        axes.grid(alpha=0.3)
        figure.autofmt_xdate()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png", bbox_inches="tight")
    finally:
        plt.close(figure)
    return path


def png_as_markdown(path: Path) -> str:
    """The PNG inlined as a markdown image, which Dagster's UI renders in asset metadata."""
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"![{path.stem}](data:image/png;base64,{encoded})"
