"""Great Expectations Data Docs that work offline.

GX renders its pages with links to CDNs (Bootstrap, jQuery, bootstrap-table, Font Awesome,
Vega...). Without a network the index lists no validation (bootstrap-table builds that list)
and the pass/fail icons (Font Awesome) are invisible. GX has no setting to serve them locally,
so after each build this module copies the vendored files (``data_docs_vendor/``, each with its
licence) into the report's ``static/vendor/`` and rewrites every CDN link of every page to a
relative path. Pages already rewritten contain no CDN link, so running it again changes nothing.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parent / "data_docs_vendor"
# Where the vendored files go inside the Data Docs site.
SITE_VENDOR = Path("static") / "vendor"

# Every CDN URL GX 1.24's templates use -> the vendored file (relative to VENDOR_DIR).
CDN_FILES: dict[str, str] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap@4.3.1/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap@4.3.1/bootstrap.min.js"
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery@3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js@1.12.9/popper.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table@1.19.1/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table@1.19.1/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": (
        "bootstrap-table@1.19.1/bootstrap-table-filter-control.min.js"
    ),
    # GX links the 1.19.0 stylesheet of the extension; 1.19.1's is the same rule set.
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": (
        "bootstrap-table@1.19.1/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": (
        "bootstrap-table@1.19.1/bootstrap-table-filter-control.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome-free@6.6.0/css/all.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": ("bootstrap-datepicker@1.9.0/bootstrap-datepicker.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": ("bootstrap-datepicker@1.9.0/bootstrap-datepicker.min.css"),
    "https://cdn.jsdelivr.net/npm/vega@5": "vega@5.30.0/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite@5.21.0/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed@6.26.0/vega-embed.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": ("bootstrap-dark@1.1.0/bootstrap-prefers-dark.min.css"),
}
# GX's logo images on S3 (with a per-build query string): a blank image instead, so an offline
# page makes no failing request (its alt text still names GX).
GX_LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.[^\"']+")
BLANK_IMAGE = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="
# Subresource-integrity and CORS attributes of CDN tags: a browser refuses a file:// script
# that asks for CORS, and the hashes were for the CDN's bytes, not the vendored copy's.
CDN_TAG_ATTRIBUTES = re.compile(r'\s+(?:integrity|crossorigin)="[^"]*"')
# Any CDN link left after the rewrite (a GX upgrade that added one): make_offline reports it.
CDN_LINK = re.compile(
    r"""(?:src|href)=["'](https://(?:cdn|unpkg|code\.jquery|maxcdn|stackpath)[^"']+)"""
)


def copy_vendor_files(site: Path) -> Path:
    """The vendored files under the site's ``static/vendor`` (replaced when they differ)."""
    target = site / SITE_VENDOR
    marker = target / ".vendored-from"
    stamp = str(sorted(CDN_FILES.values()))
    if marker.exists() and marker.read_text() == stamp:
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(VENDOR_DIR, target, ignore=shutil.ignore_patterns("README.md"))
    marker.write_text(stamp)
    return target


def rewrite_page(html: str, vendor_from_page: str) -> str:
    """The page with every known CDN link pointing at the vendored copy (``vendor_from_page``:
    the relative path from the page's folder to ``static/vendor``)."""
    for url, file in CDN_FILES.items():
        html = html.replace(f'"{url}"', f'"{vendor_from_page}/{file}"')
        html = html.replace(f"'{url}'", f"'{vendor_from_page}/{file}'")
    return CDN_TAG_ATTRIBUTES.sub("", GX_LOGO.sub(BLANK_IMAGE, html))


def make_offline(site: Path) -> list[str]:
    """Vendor the files and rewrite every page of the Data Docs site at ``site``; returns the
    CDN links left in any page (none while GX's templates stay the same)."""
    vendor = copy_vendor_files(site)
    left: list[str] = []
    for page in site.rglob("*.html"):
        if SITE_VENDOR.parts[0] in page.relative_to(site).parts[:1]:
            continue
        html = page.read_text(encoding="utf-8")
        relative = Path(os.path.relpath(vendor, page.parent)).as_posix()
        rewritten = rewrite_page(html, relative)
        if rewritten != html:
            page.write_text(rewritten, encoding="utf-8")
        left += [f"{page.relative_to(site)}: {url}" for url in CDN_LINK.findall(rewritten)]
    return left
