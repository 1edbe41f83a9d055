"""Whole-pipeline runs of the quality gate on poisoned seeds: each fails loudly, naming the
failed rule, and leaves the published copy byte-for-byte as it was. The project is copied so a
case can poison a seed; the data dir starts from a clean publish (``clean_run``)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pipeline import published_fingerprint
from tests.quality_gate import (
    assert_failed_and_nothing_published,
    copy_project,
    edit_seed,
    run_pipeline,
)

pytestmark = pytest.mark.slow


def set_first_contract(**values: str) -> Callable[[list[dict[str, str]]], None]:
    return lambda rows: rows[0].update(values)


SEED_CASES: dict[str, tuple[str, Callable[[list[dict[str, str]]], None], str]] = {
    "unknown ticker in contracts": ("ai_hosting_contracts", set_first_contract(ticker="NOPE"), "relationships_ai_hosting_contracts_ticker"),
    "negative MW": ("ai_hosting_contracts", set_first_contract(it_mw="-100"), "it_mw_positive"),
    "contract announced in the future": ("ai_hosting_contracts", set_first_contract(announced_on="2031-01-01"), "not_announced_in_the_future"),
    "term of zero years": ("ai_hosting_contracts", set_first_contract(term_years="0"), "term_years_positive"),
    "injection ticker": (
        "companies",
        lambda rows: rows.append({**rows[0], "ticker": "X'; DROP TABLE t; --"}),
        "ticker_is_a_symbol",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(SEED_CASES))
def test_poisoned_seeds_fail_loudly_and_publish_nothing(
    clean_run, tmp_path: Path, case: str
) -> None:
    seed, change, expected = SEED_CASES[case]
    project, data = copy_project(tmp_path / "project"), tmp_path / "data"
    shutil.copytree(clean_run["data"], data, symlinks=True)
    before = published_fingerprint(data / "published")
    edit_seed(project, seed, change)
    result = run_pipeline(project, data, clean_run["csv"])
    assert_failed_and_nothing_published(result, expected, data / "published", before)
