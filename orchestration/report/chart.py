"""The pivot-index chart: each basket's index over time, with contract announcements marked.

Sized for a report (1,760 px wide), on a log scale (BTC's and NVDA's multiples would otherwise
flatten the miner baskets), with numbered announcement markers in staggered rows and listed
beside the chart, and a footnote with the as-of date, the price source and why the index
starts when it does.
"""

from __future__ import annotations

import base64
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render straight to PNG

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

# Colour-blind-safe (Okabe-Ito); the announcement markers use none of them.
BASKET_STYLES: dict[str, dict[str, str]] = {
    "pivoted_miners": {"color": "#D55E00", "label": "Miners after 1st AI/HPC contract"},
    "other_miners": {"color": "#999999", "label": "Other bitcoin miners"},
    "hyperscalers": {"color": "#0072B2", "label": "Hyperscalers"},
    "nvda": {"color": "#009E73", "label": "NVDA"},
    "btc": {"color": "#E69F00", "label": "BTC-USD"},
}
ANNOUNCEMENT_COLOUR = "#4B2C6F"
FIGURE_SIZE_INCHES = (16, 8)
DPI = 110  # 16 in x 110 dpi = 1,760 px
# Announcement labels closer than this share of the date range go to another row.
LABEL_GAP_SHARE = 0.035
LABEL_ROWS = 4
LISTED_ANNOUNCEMENTS = 30


def label_rows(dates: list[pd.Timestamp], gap: pd.Timedelta, rows: int = LABEL_ROWS) -> list[int]:
    """A row for each date's label (dates ascending), the lowest row whose last label is at
    least ``gap`` earlier, so neighbouring labels do not overlap; when every row is taken, the
    row whose last label is oldest."""
    last_in_row: list[pd.Timestamp | None] = [None] * rows
    assigned = []
    for day in dates:
        free = [r for r, last in enumerate(last_in_row) if last is None or day - last >= gap]
        row = (
            free[0] if free else min(range(rows), key=lambda r: last_in_row[r])  # type: ignore[arg-type, return-value]
        )
        last_in_row[row] = day
        assigned.append(row)
    return assigned


def pivot_index_figure(
    index: pd.DataFrame,
    announcements: pd.DataFrame,
    *,
    as_of: str,
    price_sources: str,
    is_demo: bool = False,
) -> Figure:
    """The chart of ``index`` (date, basket, index_level) with ``announcements`` (ticker,
    event_date, optionally counterparty) marked. Raises ValueError when there is nothing to
    draw."""
    if index.empty:
        raise ValueError(
            "miner_pivot_index_daily is empty: no date on which every basket has a return"
        )
    figure = plt.figure(figsize=FIGURE_SIZE_INCHES, dpi=DPI)
    grid = figure.add_gridspec(1, 2, width_ratios=[3.7, 1], wspace=0.03)
    axes, side = figure.add_subplot(grid[0]), figure.add_subplot(grid[1])
    for basket, rows in index.sort_values("date").groupby("basket", sort=False):
        style = BASKET_STYLES.get(str(basket), {"color": "black", "label": str(basket)})
        axes.plot(
            rows["date"], rows["index_level"], color=style["color"], label=style["label"], lw=1.8
        )
    axes.set_yscale("log")
    axes.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.axhline(100, color="black", linewidth=0.6)

    first, last = index["date"].min(), index["date"].max()
    marked = announcements.dropna(subset=["event_date"])
    marked = marked[marked["event_date"].between(first, last)].sort_values("event_date")
    rows = label_rows(list(marked["event_date"]), (last - first) * LABEL_GAP_SHARE)
    listing = []
    for number, (row, (_, announcement)) in enumerate(zip(rows, marked.iterrows(), strict=True), 1):
        axes.axvline(
            announcement["event_date"], color=ANNOUNCEMENT_COLOUR, alpha=0.45, lw=0.9, ls="--"
        )
        axes.annotate(
            str(number),
            (announcement["event_date"], 0.985 - 0.045 * row),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="top",
            fontsize=9,
            color="white",
            fontweight="bold",
            bbox={"boxstyle": "circle,pad=0.25", "fc": ANNOUNCEMENT_COLOUR, "ec": "none"},
        )
        counterparty = announcement.get("counterparty")
        with_whom = f" {counterparty}" if isinstance(counterparty, str) and counterparty else ""
        listing.append(
            f"{number:>2}  {announcement['event_date']:%Y-%m-%d}  {announcement['ticker']}"
            f"{with_whom}"
        )

    side.axis("off")
    shown = listing[:LISTED_ANNOUNCEMENTS]
    if len(listing) > len(shown):
        shown.append(f"... and {len(listing) - len(shown)} more")
    side.text(
        0.0,
        1.0,
        "Contract announcements\n(event day)\n\n" + ("\n".join(shown) or "none in this period"),
        va="top",
        ha="left",
        fontsize=9,
        family="monospace",
        color=ANNOUNCEMENT_COLOUR,
        transform=side.transAxes,
    )

    demo = "DEMO, SYNTHETIC PRICES: " if is_demo else ""
    axes.set_title(
        f"{demo}Bitcoin miners' AI pivot: equal-weighted baskets (log scale)",
        fontsize=14,
        color="#B00020" if is_demo else "black",
    )
    axes.set_ylabel("Index, log scale (100 = first common date)")
    # The legend beside the chart, under the announcements: it never hides a line.
    handles, labels = axes.get_legend_handles_labels()
    side.legend(handles, labels, loc="lower left", fontsize=10, frameon=False, title="Baskets")
    axes.grid(alpha=0.3, which="both")
    figure.autofmt_xdate()
    figure.subplots_adjust(left=0.05, right=0.99, top=0.93, bottom=0.16)
    figure.text(
        0.01,
        0.005,
        f"As of {as_of}. Prices: {price_sources}. The index starts at 100 on "
        f"{first:%Y-%m-%d}, the first date on which every basket has a return (a basket needs "
        "members with prices; pivoted miners join after the close of their first contract's "
        "event day). Source: hashpivot marts miner_pivot_index_daily and "
        "fct_contract_announcement_returns.",
        fontsize=9,
        color="#333333",
        wrap=True,
    )
    return figure


def render_pivot_index_chart(
    index: pd.DataFrame,
    announcements: pd.DataFrame,
    path: Path,
    *,
    as_of: str,
    price_sources: str,
    is_demo: bool = False,
) -> Path:
    """Draw the chart (``pivot_index_figure``) and write it as a PNG to ``path``."""
    figure = pivot_index_figure(
        index, announcements, as_of=as_of, price_sources=price_sources, is_demo=is_demo
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png", dpi=DPI)
    finally:
        plt.close(figure)
    return path


def png_as_markdown(path: Path) -> str:
    """The PNG inlined as a markdown image, which Dagster's UI renders in asset metadata."""
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"![{path.stem}](data:image/png;base64,{encoded})"
