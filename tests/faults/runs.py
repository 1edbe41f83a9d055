"""Helpers of the fault tests: a `hashpivot run` subprocess with chosen settings, and what it
printed after its step lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT
from tests.pipeline import clean_environ, hashpivot_command


def run_cli(
    data_dir: Path,
    *options: str,
    env: dict[str, str] | None = None,
    prefix: tuple[str, ...] = (),
    python_code: str | None = None,
    timeout: int = 900,
) -> subprocess.CompletedProcess[str]:
    """`hashpivot run --source demo` on ``data_dir`` (``prefix`` runs it under another command,
    such as unshare; ``python_code`` replaces `python -m orchestration.cli` and gets its
    arguments in sys.argv)."""
    environ = {**clean_environ(), **(env or {})}
    command = hashpivot_command(data_dir, "--source", "demo", *options)
    if python_code is not None:
        command[1:3] = ["-c", python_code]
    command = [*prefix, *command]
    return subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def python_command(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def after_steps(stdout: str) -> list[str]:
    """The lines after the header ('hashpivot run <id> ...', 'waiting ...') and the step lines
    (indented): the first of them is what the user reads first."""
    lines = stdout.splitlines()
    body = [line for line in lines[1:] if not line.startswith("waiting up to")]
    index = 0
    while index < len(body) and body[index].startswith("  "):
        index += 1
    return body[index:]
