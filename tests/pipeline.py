"""Running the whole pipeline from tests: a `hashpivot run` in a subprocess, with an environment
free of the developer's HASHPIVOT_* and DAGSTER_* settings, and a fingerprint of what it
published."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT


def clean_environ(project: Path = PROJECT_ROOT) -> dict[str, str]:
    """This process's environment without hashpivot's and Dagster's settings; a project copy
    goes first on PYTHONPATH so its orchestration package is the one imported."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HASHPIVOT_", "DAGSTER_"))}
    if project != PROJECT_ROOT:
        environ["PYTHONPATH"] = str(project)
    return environ


def hashpivot_command(data_dir: Path, *options: str) -> list[str]:
    """`hashpivot run` as `python -m orchestration.cli`, so a project copy's code runs."""
    return [sys.executable, "-m", "orchestration.cli", "run", "--data-dir", str(data_dir), *options]


def run_hashpivot(
    data_dir: Path, *options: str, project: Path = PROJECT_ROOT, timeout: int = 1200
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        hashpivot_command(data_dir, *options),
        cwd=project,
        env=clean_environ(project),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def published_fingerprint(published: Path) -> dict[str, str]:
    """SHA-256 of every published file (following the links), and which version is in use."""
    files = [published / "marts.duckdb", *sorted((published / "parquet").rglob("*.parquet"))]
    fingerprint = {
        str(f.relative_to(published)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files
    }
    fingerprint["current"] = str((published / "current").resolve())
    return fingerprint
