"""How the dbt asset builds: unit tests left to pytest, and --full-refresh whenever the project
files or vars differ from the last successful build's."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import duckdb

from orchestration.transform.dbt import (
    KEPT_INVOCATION_FOLDERS,
    PARTIAL_PARSE_FILE,
    keep_partial_parse,
    needs_full_refresh,
    pipeline_build_args,
    project_fingerprint,
    project_fingerprint_path,
    record_successful_build,
    set_aside_unreadable_warehouse,
)


def test_pipeline_build_leaves_unit_tests_out() -> None:
    assert pipeline_build_args({}, full_refresh=False) == [
        "build",
        "--exclude-resource-type",
        "unit_test",
    ]
    assert pipeline_build_args({"as_of_date": "2025-04-04"}, full_refresh=True) == [
        "build",
        "--vars",
        '{"as_of_date": "2025-04-04"}',
        "--exclude-resource-type",
        "unit_test",
        "--full-refresh",
    ]


def make_project(root: Path) -> Path:
    project = root / "dbt_project"
    (project / "seeds").mkdir(parents=True)
    (project / "models").mkdir()
    (project / "dbt_project.yml").write_text("name: x\n")
    (project / "seeds" / "companies.csv").write_text("ticker,prices_valid_from\nCORZ,2024-01-24\n")
    (project / "models" / "m.sql").write_text("select 1\n")
    return project


def test_project_fingerprint_follows_files_and_vars_not_data(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    first = project_fingerprint(project, {})
    (tmp_path / "quality" / "ledger" / "accepted").mkdir(parents=True)
    (tmp_path / "quality" / "ledger" / "accepted" / "run.parquet").write_bytes(b"new data")
    assert project_fingerprint(project, {}) == first
    assert project_fingerprint(project, {"as_of_date": "2025-04-04"}) != first
    (project / "seeds" / "companies.csv").write_text("ticker,prices_valid_from\nCORZ,2024-02-01\n")
    after_seed_edit = project_fingerprint(project, {})
    assert after_seed_edit != first
    (project / "models" / "m.sql").write_text("select 2\n")
    assert project_fingerprint(project, {}) != after_seed_edit


def test_full_refresh_until_a_build_of_the_same_project_succeeded(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    warehouse = tmp_path / "warehouse" / "hashpivot.duckdb"
    fingerprint = project_fingerprint(project, {})
    warehouse.parent.mkdir()
    assert needs_full_refresh(warehouse, fingerprint)  # no warehouse yet
    warehouse.write_bytes(b"")
    assert needs_full_refresh(warehouse, fingerprint)  # built, but never recorded

    record_successful_build(warehouse, fingerprint)
    assert project_fingerprint_path(warehouse).parent == warehouse.parent
    assert not needs_full_refresh(warehouse, fingerprint)

    (project / "seeds" / "companies.csv").write_text("ticker,prices_valid_from\nCORZ,2024-02-01\n")
    assert needs_full_refresh(warehouse, project_fingerprint(project, {}))
    assert needs_full_refresh(warehouse, project_fingerprint(project, {"as_of_date": "2025-01-02"}))
    warehouse.unlink()  # a deleted warehouse is rebuilt whole, whatever was recorded
    assert needs_full_refresh(warehouse, fingerprint)


def test_the_runs_parse_is_kept_for_the_next_run_and_old_invocations_pruned(
    tmp_path: Path,
) -> None:
    project = SimpleNamespace(project_dir=tmp_path, target_path=Path("target"))
    target = tmp_path / "target"
    (target / "compiled").mkdir(parents=True)
    (target / PARTIAL_PARSE_FILE).write_bytes(b"parsed without the run's vars")
    folders = []
    for index in range(KEPT_INVOCATION_FOLDERS + 3):
        folder = target / f"hashpivot_dbt_assets-run{index:04d}-abcdefg"
        folder.mkdir()
        os.utime(folder, (1_000_000 + index, 1_000_000 + index))
        folders.append(folder)
    newest = folders[-1]
    (newest / PARTIAL_PARSE_FILE).write_bytes(b"parsed with the run's vars")
    os.utime(newest, (2_000_000, 2_000_000))

    keep_partial_parse(Path("target") / newest.name, project)

    assert (target / PARTIAL_PARSE_FILE).read_bytes() == b"parsed with the run's vars"
    kept = sorted(path.name for path in target.glob("*-*-*"))
    assert kept == [folder.name for folder in folders[-KEPT_INVOCATION_FOLDERS:]]
    assert (target / "compiled").is_dir()


def test_a_failed_invocation_without_a_parse_leaves_the_projects_parse(tmp_path: Path) -> None:
    project = SimpleNamespace(project_dir=tmp_path, target_path=Path("target"))
    target = tmp_path / "target"
    (target / "hashpivot_dbt_assets-run0001-abcdefg").mkdir(parents=True)
    (target / PARTIAL_PARSE_FILE).write_bytes(b"previous parse")

    keep_partial_parse(target / "hashpivot_dbt_assets-run0001-abcdefg", project)

    assert (target / PARTIAL_PARSE_FILE).read_bytes() == b"previous parse"


def test_an_unreadable_warehouse_is_set_aside_with_its_build_record(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse" / "hashpivot.duckdb"
    warehouse.parent.mkdir()
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("create table t as select range as x from range(100000)")
    assert set_aside_unreadable_warehouse(warehouse) is None  # a sound one stays
    record_successful_build(warehouse, "abc")
    warehouse.write_bytes(warehouse.read_bytes()[:5000])  # truncated

    moved = set_aside_unreadable_warehouse(warehouse)

    assert moved is not None
    assert moved.parent == warehouse.parent / "damaged"
    assert not warehouse.exists()
    assert needs_full_refresh(warehouse, "abc")
    assert len(list(moved.parent.iterdir())) == 2  # the file and its build record
