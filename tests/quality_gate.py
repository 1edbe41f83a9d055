"""What the quality gate's whole-pipeline tests share (tests/test_quality_gate_*.py): a copy of
the project to poison, a data dir holding a clean publish to start from, and the assertion that a
poisoned run failed loudly and left the published copy byte-for-byte as it was."""

from __future__ import annotations

import csv
import shutil
import subprocess
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.exports import write_generated_exports
from tests.pipeline import published_fingerprint, run_hashpivot

POISONED_TICKER = "IREN"
LAST_CLEAN_DAY = date(2025, 3, 31)


def copy_project(target: Path) -> Path:
    """The parts of the project a run needs, without generated files."""
    ignore = shutil.ignore_patterns("target", "logs", "__pycache__", ".user.yml")
    for part in ("orchestration", "dbt_project", "expectations"):
        shutil.copytree(PROJECT_ROOT / part, target / part, ignore=ignore)
    return target


def run_pipeline(project: Path, data_dir: Path, csv_dir: Path) -> subprocess.CompletedProcess[str]:
    return run_hashpivot(data_dir, "--source", "csv", "--csv-dir", str(csv_dir), project=project)


def make_clean_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A copy of the project, generated exports to LAST_CLEAN_DAY and a data dir published from
    them (the module-scoped ``clean_run`` fixture of tests/conftest.py)."""
    root = tmp_path_factory.mktemp("gate")
    project = copy_project(root / "project")
    csv_dir = root / "csv"
    write_generated_exports(csv_dir, last_day=LAST_CLEAN_DAY, quirky=False)
    result = run_pipeline(project, root / "data", csv_dir)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "published: yes" in result.stdout
    assert "data quality:" in result.stdout
    assert (root / "data" / "quality" / "data_docs" / "index.html").exists()
    return {"root": root, "project": project, "csv": csv_dir, "data": root / "data"}


def append_row(csv_dir: Path, values: list[str]) -> None:
    with (csv_dir / f"{POISONED_TICKER}.csv").open("a") as handle:
        handle.write(",".join(values) + "\n")


def edit_seed(project: Path, seed: str, change: Callable[[list[dict[str, str]]], None]) -> None:
    path = project / "dbt_project" / "seeds" / f"{seed}.csv"
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)
    change(rows)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


NEXT_DAY = "2025-04-01"


def assert_failed_and_nothing_published(
    result: subprocess.CompletedProcess[str], expected: str, published: Path, before: dict
) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, result.stdout[-3000:]
    assert "FAILED" in result.stdout
    assert "published: NO" in result.stdout
    assert expected in result.stdout, result.stdout[-4000:]
    # The first line after the step lines says what failed, before the rest of the summary.
    after_steps = next(line for line in result.stdout.splitlines()[1:] if not line.startswith("  "))
    assert after_steps.startswith("FAILED"), result.stdout[-4000:]
    assert published_fingerprint(published) == before, "the published copy changed"
    assert "Traceback" not in result.stdout, output[-3000:]
