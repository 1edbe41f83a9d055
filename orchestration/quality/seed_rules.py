"""A curator's rules for the seeds, on the CSV files as written (pure; ``seeds_check`` runs them).

dbt tests and the GX suites check types, keys and ranges once the seeds are loaded; these rules
check what makes a row trustworthy: its source is a page that can state the figure (not a site's
home page, not a site on the deny list), it is dated, an uncertain row says why, a contract was
not announced after the date its company's facts are as of, keys are unique, and no row uses a
retired ticker. Every problem names the file and line of its row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

# Domains a source_url may not cite, one per line with the reason in a comment.
DENIED_DOMAINS_FILE = "denied_source_domains.txt"

# The date every row of a seed must carry, by seed file.
DATE_COLUMNS = {
    "companies.csv": "as_of_date",
    "ai_hosting_contracts.csv": "announced_on",
    "hyperscaler_capex_actuals.csv": "calendar_quarter_end",
    "hyperscaler_capex_guidance_updates.csv": "announced_on",
    "bitcoin_halvings.csv": "halving_date",
    "market_events.csv": "event_date",
    "ticker_changes.csv": "effective_date",
}
# The column that says why a row is uncertain, by seed file (seeds with is_uncertain).
NOTE_COLUMNS = {
    "ai_hosting_contracts.csv": "notes",
    "hyperscaler_capex_actuals.csv": "notes",
    "hyperscaler_capex_guidance_updates.csv": "notes",
    "market_events.csv": "description",
    "ticker_changes.csv": "notes",
}
# The key column of a seed whose rows each describe one thing.
KEY_COLUMNS = {
    "companies.csv": "ticker",
    "ai_hosting_contracts.csv": "contract_id",
    "hyperscaler_capex_guidance_updates.csv": "guidance_id",
    "market_events.csv": "event_id",
    "ticker_changes.csv": "old_ticker",
}
COMPANIES_FILE = "companies.csv"
TICKER_CHANGES_FILE = "ticker_changes.csv"


@dataclass(frozen=True)
class SeedRow:
    file: str
    line: int  # the line the row starts on (1 = the header)
    values: Mapping[str, str]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: [{self.rule}] {self.message}"


def read_seed(path: Path) -> list[SeedRow]:
    """The rows of a seed CSV with the line each starts on (quoted cells may span lines)."""
    rows: list[SeedRow] = []
    with Path(path).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        start = 2
        for values in reader:
            rows.append(SeedRow(Path(path).name, start, {k: (v or "") for k, v in values.items()}))
            start = reader.line_num + 1
    return rows


def parse_denied_domains(text: str) -> frozenset[str]:
    """Domains of the deny list: one per line, ``#`` starts a comment."""
    domains = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
    return frozenset(domain for domain in domains if domain)


def _host_is_denied(host: str, denied: frozenset[str]) -> str | None:
    for domain in denied:
        if host == domain or host.endswith(f".{domain}"):
            return domain
    return None


def check_source_urls(rows: Iterable[SeedRow], denied: frozenset[str]) -> Iterator[Problem]:
    """Every source_url is an http(s) URL of a page (not a bare home page) on no denied domain."""
    for row in rows:
        url = row.values.get("source_url", "").strip()
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            yield Problem(row.file, row.line, "source_url", f"not an http(s) URL: {url!r}")
        elif domain := _host_is_denied(host, denied):
            yield Problem(row.file, row.line, "source_url", f"{url} is on denied domain {domain}")
        elif parts.path.strip("/") == "" and not parts.query:
            yield Problem(
                row.file, row.line, "source_url", f"{url} is a home page, not the page stating it"
            )


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def check_dates(rows: Iterable[SeedRow], date_column: str) -> Iterator[Problem]:
    """Every row carries its date, written YYYY-MM-DD."""
    for row in rows:
        if _parse_date(row.values.get(date_column, "")) is None:
            value = row.values.get(date_column, "")
            yield Problem(
                row.file, row.line, "dated", f"{date_column} {value!r} is not a YYYY-MM-DD date"
            )


def check_uncertain_rows_say_why(rows: Iterable[SeedRow], note_column: str) -> Iterator[Problem]:
    """A row flagged is_uncertain=true has a note saying what is uncertain or missing."""
    for row in rows:
        flagged = row.values.get("is_uncertain", "").strip().lower() == "true"
        if flagged and not row.values.get(note_column, "").strip():
            yield Problem(
                row.file,
                row.line,
                "uncertain_has_note",
                f"is_uncertain=true but {note_column} is empty",
            )


def check_announced_by_company_as_of(
    rows: Iterable[SeedRow], companies: Iterable[SeedRow]
) -> Iterator[Problem]:
    """``announced_on`` is not after the as-of date of the row's company (its facts' date)."""
    as_of = {
        company.values.get("ticker", ""): _parse_date(company.values.get("as_of_date", ""))
        for company in companies
    }
    for row in rows:
        announced = _parse_date(row.values.get("announced_on", ""))
        company_as_of = as_of.get(row.values.get("ticker", ""))
        if announced and company_as_of and announced > company_as_of:
            yield Problem(
                row.file,
                row.line,
                "announced_by_as_of",
                f"announced_on {announced} is after {row.values['ticker']}'s as_of_date "
                f"{company_as_of} in {COMPANIES_FILE}",
            )


def check_unique_keys(rows: Iterable[SeedRow], key_column: str) -> Iterator[Problem]:
    """No two rows share a key (a contract id, an event id...)."""
    first_line: dict[str, int] = {}
    for row in rows:
        key = row.values.get(key_column, "").strip()
        if key in first_line:
            yield Problem(
                row.file,
                row.line,
                "unique_key",
                f"{key_column} {key!r} already on line {first_line[key]}",
            )
        else:
            first_line[key] = row.line


def check_no_retired_tickers(
    rows: Iterable[SeedRow], ticker_changes: Iterable[SeedRow]
) -> Iterator[Problem]:
    """Rows use the company's current ticker, never one retired by a ticker change."""
    retired = {
        change.values.get("old_ticker", "").strip().upper(): change.values.get("new_ticker", "")
        for change in ticker_changes
    }
    for row in rows:
        ticker = row.values.get("ticker", "").strip().upper()
        if ticker in retired:
            yield Problem(
                row.file,
                row.line,
                "current_ticker",
                f"{ticker} was retired ({TICKER_CHANGES_FILE}): use {retired[ticker]}",
            )


def check_seed_rows(seeds: Mapping[str, list[SeedRow]], denied: frozenset[str]) -> list[Problem]:
    """Every curator rule over the seeds (file name -> rows), problems in file and line order."""
    companies = seeds.get(COMPANIES_FILE, [])
    changes = seeds.get(TICKER_CHANGES_FILE, [])
    problems: list[Problem] = []
    for name, rows in seeds.items():
        problems += check_source_urls(rows, denied)
        if name in DATE_COLUMNS:
            problems += check_dates(rows, DATE_COLUMNS[name])
        if name in NOTE_COLUMNS:
            problems += check_uncertain_rows_say_why(rows, NOTE_COLUMNS[name])
        if name in KEY_COLUMNS:
            problems += check_unique_keys(rows, KEY_COLUMNS[name])
        if rows and "announced_on" in rows[0].values and "ticker" in rows[0].values:
            problems += check_announced_by_company_as_of(rows, companies)
        if name != TICKER_CHANGES_FILE:
            problems += check_no_retired_tickers(rows, changes)
    return sorted(problems, key=lambda problem: (problem.file, problem.line, problem.rule))


def check_seeds_folder(seeds_dir: Path) -> list[Problem]:
    """The curator rules over every ``*.csv`` of the seeds folder, with its deny list."""
    denied = parse_denied_domains((Path(seeds_dir) / DENIED_DOMAINS_FILE).read_text())
    seeds = {path.name: read_seed(path) for path in sorted(Path(seeds_dir).glob("*.csv"))}
    return check_seed_rows(seeds, denied)
