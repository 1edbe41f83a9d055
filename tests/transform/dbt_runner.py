"""Running dbt on the project from tests, in a subprocess, against a tmp data dir, with its own
target and log dirs (so tests never touch dbt_project/target, which other runs use)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from orchestration.extract.retractions import ensure_retractions
from orchestration.paths import data_paths
from orchestration.transform.dbt import DBT_EXECUTABLE, dbt_environment
from tests.conftest import PROJECT_ROOT
from tests.pipeline import clean_environ

DBT_PROJECT = PROJECT_ROOT / "dbt_project"


def run_dbt(
    data_dir: Path, *args: str, timeout: int = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`dbt <args>` on the project with its data dir's paths under ``data_dir``; with ``check``, fails
    the test with dbt's output when dbt fails."""
    (data_dir / "warehouse").mkdir(parents=True, exist_ok=True)
    # What the pipeline prepares before dbt runs (transform.dbt.prepare_dbt_environment).
    ensure_retractions(data_paths(data_dir).landing_retractions)
    environ = clean_environ()
    environ.update(dbt_environment(data_paths(data_dir)))
    result = subprocess.run(
        [
            DBT_EXECUTABLE,
            *args,
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(data_dir / "dbt_target"),
            "--log-path",
            str(data_dir / "dbt_logs"),
        ],
        cwd=PROJECT_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert not check or result.returncode == 0, (
        f"dbt {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    )
    return result


def run_results(data_dir: Path) -> list[dict]:
    """The node results of the latest dbt invocation on ``data_dir``."""
    return json.loads((data_dir / "dbt_target" / "run_results.json").read_text())["results"]
