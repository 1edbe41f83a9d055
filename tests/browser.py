"""Debian's Chromium, driven by Playwright, for tests of what users open in a browser. Never a
downloaded browser: the machines reach no browser download site."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Headless as root in a sandbox, and no background traffic to Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chromium_page(*, offline: bool = False) -> Iterator[tuple[object, list[str], list[str]]]:
    """(page, console errors, requests refused); with ``offline``, every request that is not
    a local file or a data URI is refused and recorded, as with no network at all."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    refused: list[str] = []

    def route(request_route) -> None:
        url = request_route.request.url
        if url.startswith(("file:", "data:")):
            request_route.continue_()
        else:
            refused.append(url)
            request_route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exception: errors.append(str(exception)))
            if offline:
                page.route("**/*", route)
            yield page, errors, refused
        finally:
            browser.close()
