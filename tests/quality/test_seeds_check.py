"""``hashpivot seeds check`` end to end: dbt tests, GX suites and curator rules on a copy of the
dbt project (no prices), failing rows named with their file and line."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from orchestration.paths import DBT_PROJECT_DIR
from orchestration.quality.seeds_check import run_seeds_check


@pytest.fixture(scope="module")
def repo_report():
    return run_seeds_check(DBT_PROJECT_DIR)


def test_the_repo_seeds_pass(repo_report) -> None:
    assert not repo_report.failed, "\n".join(repo_report.lines)
    assert any(line.startswith("dbt: ") for line in repo_report.lines)
    assert any(line.startswith("GX seed_ticker_changes") for line in repo_report.lines)


def test_a_bad_row_of_each_kind_fails_with_its_file_and_line(tmp_path: Path) -> None:
    project = tmp_path / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    contracts = project / "seeds" / "ai_hosting_contracts.csv"
    with contracts.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields, first = reader.fieldnames, next(reader)
    bad_line = len(contracts.read_text().splitlines()) + 1
    # A status outside dbt's accepted_values, on a denied domain: a dbt test and a curator rule.
    bad = {**first, "contract_id": "corz_bad_row", "status": "bogus"}
    bad["source_url"] = "https://twimm.cz/article?id=1"
    with contracts.open("a", newline="") as handle:
        csv.DictWriter(handle, fieldnames=fields, lineterminator="\n").writerow(bad)
    # A negative capex: a critical GX expectation.
    capex = project / "seeds" / "hyperscaler_capex_actuals.csv"
    capex_lines = capex.read_text().splitlines()
    capex_lines[1] = capex_lines[1].replace(",6720000000,", ",-1,")
    capex.write_text("\n".join(capex_lines) + "\n")

    report = run_seeds_check(project)
    text = "\n".join(report.lines)
    assert report.failed
    assert f"ai_hosting_contracts.csv:{bad_line}: [source_url]" in text
    assert "accepted_values_ai_hosting_contracts_status" in text
    assert "capex_positive" in text
    assert "hyperscaler_capex_actuals.csv:2" in text
