"""The curator's rules: each fails on its bad row (with file and line), and the repo's seeds
pass them all."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.paths import SEEDS_DIR
from orchestration.quality.seed_rules import (
    DENIED_DOMAINS_FILE,
    check_seed_rows,
    check_seeds_folder,
    parse_denied_domains,
    read_seed,
)

DENIED = parse_denied_domains("twimm.cz  # paywall bypass\n# a comment line\nmachineherald.io\n")

COMPANIES = (
    "ticker,name,segment,listing_notes,prices_valid_from,source_url,as_of_date\n"
    "IREN,IREN Ltd,bitcoin_miner,,,https://www.sec.gov/edgar/iren,2026-11-27\n"
    "KEEL,Keel,bitcoin_miner,,,https://www.sec.gov/edgar/keel,2026-11-27\n"
)
CONTRACT_HEADER = (
    "contract_id,ticker,counterparty,guarantor,announced_on,it_mw,gross_mw,contract_value_usd,"
    "max_value_usd,term_years,site,status,is_uncertain,notes,source_url\n"
)
GOOD_CONTRACT = (
    "iren_a,IREN,Microsoft,,2025-11-03,200,,9700000000,,5,Childress,active,false,,"
    "https://iren.com/news/microsoft\n"
)
TICKER_CHANGES = (
    "old_ticker,new_ticker,effective_date,company_name,notes,source_url\n"
    "BITF,KEEL,2026-04-06,Keel,,https://keel.com/news/rename\n"
)

# rule -> a contract row that breaks it (and only it)
BAD_CONTRACTS = {
    "source_url": "iren_b,IREN,X,,2025-11-04,1,,,,5,s,active,false,,ftp://files.example/x\n",
    "denied": "iren_b,IREN,X,,2025-11-04,1,,,,5,s,active,false,,https://www.twimm.cz/a?id=1\n",
    "home_page": "iren_b,IREN,X,,2025-11-04,1,,,,5,s,active,false,,https://ir.aboutamazon.com/\n",
    "dated": "iren_b,IREN,X,,2025-11,1,,,,5,s,active,false,,https://iren.com/news/b\n",
    "uncertain_has_note": "iren_b,IREN,X,,2025-11-04,1,,,,5,s,active,true,,https://iren.com/b\n",
    "announced_by_as_of": "iren_b,IREN,X,,2026-12-01,1,,,,5,s,active,false,,https://iren.com/b\n",
    "unique_key": "iren_a,IREN,X,,2025-11-04,1,,,,5,s,active,false,,https://iren.com/news/b\n",
    "current_ticker": "bitf_b,BITF,X,,2025-11-04,1,,,,5,s,active,false,,https://bitf.com/b\n",
}
EXPECTED_RULE = {
    "denied": "source_url",
    "home_page": "source_url",
}


def seeds_with(tmp_path: Path, contracts: str) -> dict:
    for name, text in (
        ("companies.csv", COMPANIES),
        ("ai_hosting_contracts.csv", contracts),
        ("ticker_changes.csv", TICKER_CHANGES),
    ):
        (tmp_path / name).write_text(text)
    return {path.name: read_seed(path) for path in sorted(tmp_path.glob("*.csv"))}


def test_good_rows_pass(tmp_path: Path) -> None:
    assert check_seed_rows(seeds_with(tmp_path, CONTRACT_HEADER + GOOD_CONTRACT), DENIED) == []


@pytest.mark.parametrize("case", sorted(BAD_CONTRACTS))
def test_each_rule_fails_on_its_bad_row_with_file_and_line(tmp_path: Path, case: str) -> None:
    seeds = seeds_with(tmp_path, CONTRACT_HEADER + GOOD_CONTRACT + BAD_CONTRACTS[case])
    problems = check_seed_rows(seeds, DENIED)
    assert [(p.file, p.line, p.rule) for p in problems] == [
        ("ai_hosting_contracts.csv", 3, EXPECTED_RULE.get(case, case))
    ]
    assert str(problems[0]).startswith("ai_hosting_contracts.csv:3: ")


def test_lines_count_quoted_cells_that_span_lines(tmp_path: Path) -> None:
    multiline = GOOD_CONTRACT.replace(",,https", ',"two\nlines",https')
    bad = BAD_CONTRACTS["dated"]
    problems = check_seed_rows(seeds_with(tmp_path, CONTRACT_HEADER + multiline + bad), DENIED)
    assert [(p.line, p.rule) for p in problems] == [(4, "dated")]


def test_subdomains_of_a_denied_domain_are_denied_and_lookalikes_are_not(tmp_path: Path) -> None:
    rows = CONTRACT_HEADER + GOOD_CONTRACT.replace("https://iren.com", "https://a.machineherald.io")
    assert [p.rule for p in check_seed_rows(seeds_with(tmp_path, rows), DENIED)] == ["source_url"]
    rows = CONTRACT_HEADER + GOOD_CONTRACT.replace(
        "https://iren.com", "https://notmachineherald.io"
    )
    assert check_seed_rows(seeds_with(tmp_path, rows), DENIED) == []


def test_the_deny_list_says_why_for_every_domain() -> None:
    lines = (SEEDS_DIR / DENIED_DOMAINS_FILE).read_text().splitlines()
    entries = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert entries, "the deny list is empty"
    for line in entries:
        domain, _, reason = line.partition("#")
        assert domain.strip(), f"no domain on {line!r}"
        assert reason.strip(), f"no reason given for {line!r}"


def test_the_repo_seeds_pass_every_curator_rule() -> None:
    problems = check_seeds_folder(SEEDS_DIR)
    assert problems == [], "\n".join(str(problem) for problem in problems)
