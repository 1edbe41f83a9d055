"""The dashboard in a real browser: Debian's Chromium (never a downloaded one) drives every page
of a dashboard built from one pipeline publish, served on 127.0.0.1 and opened from file://.

Fails on a console error, a failed or non-local request, a chart with no traces or nothing
drawn, or a number on a page that differs from the published mart. Screenshots of every page go
to <data dir>/dashboard/screenshots/ (CI uploads them)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlparse

import duckdb
import pytest

from orchestration.paths import DataPaths
from orchestration.report.dashboard import (
    build_dashboard,
    data_age,
    fmt_int,
    fmt_pct,
    index_tick_text,
    log_ticks,
    miner_page_name,
)
from tests.browser import CHROMIUM, CHROMIUM_ARGS

VIEWPORT = {"width": 1366, "height": 900}
BUILT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # the build day the header's age is against
TICK_TEXTS = "(selector) => Array.from(document.querySelectorAll(selector)).map(t => t.textContent)"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

# A chart is drawn when plotly.js gave it traces and painted at least one line or bar.
CHART_STATE = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(div => ({
    id: div.id,
    traces: (div.data || []).length,
    painted: div.querySelectorAll('.scatterlayer path.js-line, .scatterlayer path.point, .barlayer path').length,
}))"""


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # port 0: a free port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class PageWatcher:
    """Collects everything that should never happen on a page."""

    def __init__(self, page) -> None:
        self.problems: list[str] = []
        page.on(
            "console",
            lambda m: (
                self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
            ),
        )
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on(
            "requestfailed", lambda r: self.problems.append(f"request failed: {r.url} {r.failure}")
        )
        page.on(
            "response",
            lambda r: (
                self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None
            ),
        )
        page.route("**/*", self._local_only)

    def _local_only(self, route) -> None:
        url = urlparse(route.request.url)
        if url.scheme == "file" or url.hostname == "127.0.0.1" or url.scheme == "data":
            route.continue_()
        else:
            self.problems.append(f"network request off the machine: {route.request.url}")
            route.abort()


def check_page(page, watcher: PageWatcher, url: str, screenshot: Path | None) -> dict:
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    charts = page.evaluate(CHART_STATE)
    for chart in charts:
        assert chart["traces"] > 0, f"{url}: chart {chart['id']} has no traces"
        assert chart["painted"] > 0, f"{url}: chart {chart['id']} drew nothing"
    # A section either draws its chart or says "No data"; never a blank chart area.
    assert page.locator(".chart:empty").count() == 0, f"{url}: an empty chart container"
    header = page.locator("header").inner_text()
    assert "As of" in header, header
    assert "Price source" in header, header
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    assert watcher.problems == [], f"{url}: {watcher.problems}"
    return {"charts": charts, "header": header}


@pytest.fixture(scope="module")
def dashboard_dir(published_run) -> Path:
    paths = DataPaths(published_run.data_dir)
    report = build_dashboard(paths.published.duckdb, paths.dashboard, now=BUILT)
    assert report.index.is_file()
    return paths.dashboard


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_every_page_renders_without_errors_and_matches_the_marts(
    published_run,
    dashboard_dir: Path,
    browser,
) -> None:
    paths = DataPaths(published_run.data_dir)
    with duckdb.connect(str(paths.published.duckdb), read_only=True) as con:
        performance = {
            row[0]: row[1:]
            for row in con.sql(
                "select ticker, return_1y, ai_contract_count from miner_ai_pivot_performance"
            ).fetchall()
        }
        contracts_per_ticker = dict(
            con.sql(
                "select ticker, count(*) from fct_contract_announcement_returns group by 1"
            ).fetchall()
        )
        contracts_total = con.sql(
            "select count(*) from fct_contract_announcement_returns"
        ).fetchall()[0][0]
        coreweave = con.sql(
            "select count(*), count(event_date) from fct_contract_announcement_returns "
            "where counterparty = 'CoreWeave'"
        ).fetchall()[0]
        as_of = con.sql(
            "select max(as_of_date)::varchar from miner_ai_pivot_performance"
        ).fetchall()[0][0]
        # Quarters not every hyperscaler has reported (a company counts from its first
        # reported quarter on), as "partial: reported of expected".
        partial_quarters = dict(
            con.sql(
                "with q as (select calendar_quarter_end, count(*) as reported "
                "from hyperscaler_capex_quarterly group by 1), "
                "firsts as (select ticker, min(calendar_quarter_end) as first "
                "from hyperscaler_capex_quarterly group by 1) "
                "select strftime(q.calendar_quarter_end, '%Y') || ' Q' || "
                "quarter(q.calendar_quarter_end), 'partial: ' || q.reported || ' of ' || "
                "(select count(*) from firsts where first <= q.calendar_quarter_end) "
                "from q where q.reported < (select count(*) from firsts "
                "where first <= q.calendar_quarter_end)"
            ).fetchall()
        )
        index_range = con.sql(
            "select min(index_level), max(index_level) from miner_pivot_index_daily"
        ).fetchall()[0]
    assert "IREN" in performance
    most_contracts = max(contracts_per_ticker, key=contracts_per_ticker.get)
    shots = dashboard_dir / "screenshots"
    page = browser.new_page(viewport=VIEWPORT)
    watcher = PageWatcher(page)
    with serve_folder(dashboard_dir) as base:
        # Every page reachable from the navigation and the miners table, miner pages included.
        seen = check_page(page, watcher, base + "index.html", shots / "01-overview.png")
        # The as-of date and its age on the build day; the log axis in index points.
        assert f"{as_of}, {data_age(date.fromisoformat(as_of), BUILT.date())}" in seen["header"]
        drawn = page.evaluate(TICK_TEXTS, "#chart-index .ytick text")
        assert "100" in drawn, drawn
        assert set(drawn) <= {index_tick_text(t) for t in log_ticks(*index_range)}, drawn
        nav = page.eval_on_selector_all("nav a", "links => links.map(a => a.getAttribute('href'))")
        assert nav == ["index.html", "miners.html", "contracts.html", "capex.html", "quality.html"]
        for number, href in enumerate(nav[1:], start=2):
            seen = check_page(page, watcher, base + href, shots / f"0{number}-{href[:-5]}.png")
            assert as_of in seen["header"]
            assert published_run.exports == "generated" or "csv" in seen["header"]
            if href == "miners.html":
                miner_links = page.eval_on_selector_all(
                    "#miners td[data-col=ticker] a",
                    "links => links.map(a => a.getAttribute('href'))",
                )
                # The page's numbers are the mart's, as formatted.
                iren = page.locator("#miners tr[data-ticker=IREN]")
                return_1y, count = performance["IREN"]
                assert iren.locator("td[data-col=return_1y]").inner_text() == fmt_pct(return_1y)
                assert iren.locator("td[data-col=ai_contract_count]").inner_text() == fmt_int(count)
                assert page.locator("#miners tbody tr").count() == len(performance)
                # Sorting by a header click: 1y descending puts the best 1y return first.
                page.locator("#miners th", has_text="1y").first.click()
                best = max((v[0], t) for t, v in performance.items() if v[0] is not None)[1]
                first = page.locator("#miners tbody tr").first.get_attribute("data-ticker")
                assert first == best
            if href == "capex.html":
                drawn = page.evaluate(TICK_TEXTS, "#chart-capex .xtick text")
                marked = {t[:7]: t[7:] for t in drawn if "partial" in t}
                assert marked == partial_quarters, drawn
            if href == "contracts.html":
                assert page.locator("#contracts-table tbody tr").count() == contracts_total
                if coreweave[0]:
                    page.select_option("#counterparty-filter", "CoreWeave")
                    assert page.locator("#contracts-table tbody tr:visible").count() == coreweave[0]
                    bars = page.evaluate(
                        "() => document.getElementById('chart-cars').data[0].x.length"
                    )
                    assert bars == coreweave[1]
                    assert watcher.problems == [], watcher.problems
        assert len(miner_links) == len(performance)
        for ticker in sorted({"IREN", most_contracts}):
            href = miner_page_name(ticker)
            assert href in miner_links
            check_page(page, watcher, base + href, shots / f"07-miner-{ticker}.png")
            rows = page.locator("#miner-contracts tbody tr").count()
            assert rows == contracts_per_ticker.get(ticker, 0), ticker
            if rows == 0:
                assert page.locator("[data-empty=contracts]").count() == 1
    # The same folder from file://, with no server at all.
    local = browser.new_page(viewport=VIEWPORT)
    file_watcher = PageWatcher(local)
    for href in nav:
        check_page(local, file_watcher, (dashboard_dir / href).resolve().as_uri(), None)
    assert sorted(p.name for p in shots.glob("*.png")) == sorted(
        ["01-overview.png", "02-miners.png", "03-contracts.png", "04-capex.png", "05-quality.png"]
        + [f"07-miner-{t}.png" for t in sorted({"IREN", most_contracts})]
    )
