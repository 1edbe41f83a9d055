"""The Data Docs report works with no network: every CDN link points at a vendored copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.quality.data_docs_offline import (
    BLANK_IMAGE,
    CDN_FILES,
    VENDOR_DIR,
    make_offline,
    rewrite_page,
)

JQUERY = "https://code.jquery.com/jquery-3.7.1.min.js"
FONT_AWESOME = "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css"


def test_every_mapped_file_is_vendored_with_a_licence() -> None:
    for file in CDN_FILES.values():
        assert (VENDOR_DIR / file).is_file(), file
        package = VENDOR_DIR / file.split("/")[0]
        assert list(package.glob("LICENSE*")), package


def test_links_are_rewritten_relative_to_each_page(tmp_path: Path) -> None:
    page = (
        f'<script src="{JQUERY}" integrity="sha384-x" crossorigin="anonymous"></script>'
        f'<link href="{FONT_AWESOME}" rel="stylesheet">'
        '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo.png?d=1">'
        '<a href="https://greatexpectations.io">GX</a>'
    )
    (tmp_path / "validations" / "suite" / "run").mkdir(parents=True)
    (tmp_path / "index.html").write_text(page)
    nested = tmp_path / "validations" / "suite" / "run" / "result.html"
    nested.write_text(page)

    assert make_offline(tmp_path) == []
    index, result = (tmp_path / "index.html").read_text(), nested.read_text()
    assert '<script src="static/vendor/jquery@3.7.1/jquery.min.js"></script>' in index
    assert 'src="../../../static/vendor/jquery@3.7.1/jquery.min.js"' in result
    assert 'href="../../../static/vendor/fontawesome-free@6.6.0/css/all.min.css"' in result
    assert BLANK_IMAGE in index
    assert 'href="https://greatexpectations.io"' in index  # a link, loaded only if clicked
    assert (tmp_path / "static/vendor/fontawesome-free@6.6.0/webfonts/fa-solid-900.woff2").is_file()
    # Idempotent: a second pass changes nothing.
    assert make_offline(tmp_path) == []
    assert nested.read_text() == result


def test_an_unknown_cdn_link_is_reported() -> None:
    assert (
        rewrite_page(f'<script src="{JQUERY}">', "v")
        == '<script src="v/jquery@3.7.1/jquery.min.js">'
    )
    site_page = '<script src="https://cdn.jsdelivr.net/npm/new-thing@1"></script>'
    # make_offline reports what it could not rewrite; rewrite_page leaves it as it was.
    assert rewrite_page(site_page, "v") == site_page


@pytest.mark.slow
def test_the_report_lists_every_validation_with_its_status_icon_offline(
    published_run, tmp_path: Path
) -> None:
    from tests.browser import chromium_page

    site = published_run.data_dir / "quality" / "data_docs"
    results = sorted((site / "validations").rglob("*.html"))
    assert results
    font_loaded = "document.fonts.check('900 16px \"Font Awesome 6 Free\"')"
    with chromium_page(offline=True) as (page, errors, refused):
        page.goto((site / "index.html").as_uri())
        page.wait_for_selector("table tbody tr td i.fas", timeout=15_000)
        # The visible tab lists every validation, a page of them at a time (bootstrap-table).
        rows = page.locator("table:visible tbody tr")
        assert page.locator("table:visible tbody tr td i.fas").count() == rows.count() > 0
        paging = page.locator(".pagination-info:visible")
        listed = paging.inner_text() if paging.count() else f"of {rows.count()} rows"
        assert f"of {len(results)} rows" in listed
        assert page.evaluate(font_loaded)
        page.screenshot(path=str(tmp_path / "data_docs_index.png"))

        page.goto(results[0].as_uri())
        page.wait_for_selector("i.fas", timeout=15_000)
        assert page.locator("i.fas.fa-check-circle, i.fas.fa-times").count() > 0
        assert page.evaluate(font_loaded)
        page.screenshot(path=str(tmp_path / "data_docs_result.png"))
    assert refused == []
    assert errors == []
