"""One writer per data dir: the run lock (orchestration/run_lock.py) against a live holder, a
holder killed with SIGKILL, and the leftovers of dead runs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from orchestration.paths import data_paths
from orchestration.run_lock import (
    DataDirBusyError,
    acquire,
    peek_holder,
    release_run_lock,
    remove_leftovers,
)
from tests.conftest import PROJECT_ROOT
from tests.faults.runs import after_steps, python_command, run_cli
from tests.pipeline import clean_environ


def test_a_second_holder_waits_then_names_the_first(tmp_path: Path) -> None:
    paths = data_paths(tmp_path / "data")
    with holder_process(paths.root, "first-run") as holder:
        started = time.monotonic()
        told: list[str] = []
        with pytest.raises(DataDirBusyError) as busy:
            acquire(paths, "second-run", 0.6, told.append)
        assert time.monotonic() - started >= 0.6
        assert "run first-run" in str(busy.value)
        assert f"pid {holder.pid}" in str(busy.value)
        assert len(told) == 1
        assert "run first-run" in told[0]
        holder.terminate()  # SIGTERM: the kernel drops its flock, its record stays
        holder.wait()
    again = acquire(paths, "second-run", 0)
    assert again.previous is not None
    assert again.previous["run_id"] == "first-run"
    release_run_lock("second-run", paths)
    assert again.fd == -1
    assert paths.run_lock.read_text() == ""
    third = acquire(paths, "third-run", 0)
    assert third.previous is None
    third.release()


@contextmanager
def holder_process(data_dir: Path, run_id: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the data dir's lock for ``run_id`` until it is killed."""
    holder = subprocess.Popen(
        python_command(
            "import time\n"
            "from orchestration.paths import data_paths\n"
            "from orchestration.run_lock import acquire\n"
            f"acquire(data_paths({str(data_dir)!r}), {run_id!r}, 0)\n"
            "print('held', flush=True)\n"
            "time.sleep(600)\n"
        ),
        cwd=PROJECT_ROOT,
        env=clean_environ(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        if holder.poll() is None:
            holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()


def test_a_holder_that_exits_normally_releases_cleanly(tmp_path: Path) -> None:
    """A run process of the UI or the schedule exits after its run without calling release:
    the exit empties the holder record, so the next run reports no dead holder."""
    paths = data_paths(tmp_path / "data")
    code = (
        "from orchestration.paths import data_paths\n"
        "from orchestration.run_lock import acquire\n"
        f"acquire(data_paths({str(paths.root)!r}), 'ui-run', 0)\n"
    )
    subprocess.run(python_command(code), cwd=PROJECT_ROOT, env=clean_environ(), check=True)
    assert paths.run_lock.read_text() == ""
    assert acquire(paths, "next-run", 0).previous is None
    release_run_lock("next-run", paths)


def test_leftovers_are_removed_and_named(tmp_path: Path) -> None:
    paths = data_paths(tmp_path / "data")
    leftovers = _make_leftovers(paths)
    kept = paths.landing_prices / "2026__demo__run.parquet"
    kept.write_text("a landed file")
    removed = remove_leftovers(paths)
    reported = [
        leftovers[0],
        leftovers[1].parent,  # the whole half-built version folder
        paths.landing_scratch,
        paths.audit_scratch.parent,
    ]
    assert sorted(removed) == sorted(str(p.relative_to(paths.root)) for p in reported)
    assert not any(p.exists() for p in leftovers)
    assert kept.exists()


def test_a_run_fails_naming_the_holder_when_the_lock_stays_busy(tmp_path: Path) -> None:
    """A real `hashpivot run` while this process holds the data dir's lock: it waits the
    setting's seconds, then fails with the holder's run id and pid as its first line."""
    data_dir = tmp_path / "data"
    paths = data_paths(data_dir)
    acquire(paths, "holder-run-1234", 0)
    try:
        started = time.monotonic()
        result = run_cli(data_dir, env={"HASHPIVOT_LOCK_WAIT_SECONDS": "3"})
        elapsed = time.monotonic() - started
    finally:
        release_run_lock("holder-run-1234", paths)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "waiting up to 3 s for the data dir, in use by run holder-run-1234" in result.stdout
    first = after_steps(result.stdout)[0]
    assert first.startswith("FAILED at step landed_prices: data dir "), result.stdout
    assert "run holder-run-1234" in first
    assert f"pid {os.getpid()}" in first
    waited = re.search(r"gave up after waiting ([\d.]+) s \(HASHPIVOT_LOCK_WAIT_SECONDS=3\)", first)
    assert waited is not None, first
    assert 3 <= float(waited.group(1)) < 30
    assert elapsed >= 3
    assert not list(paths.landing_prices.glob("*.parquet"))  # nothing was written
    assert not paths.warehouse.exists()


@pytest.mark.slow
def test_a_killed_holder_is_taken_over_and_its_leftovers_removed(tmp_path: Path) -> None:
    """A process holding the lock dies by SIGKILL (no release): the next run takes the lock
    over at once, reports whose it was, removes the dead run's leftovers and succeeds."""
    data_dir = tmp_path / "data"
    paths = data_paths(data_dir)
    with holder_process(data_dir, "doomed-run") as holder:
        assert f"run doomed-run (pid {holder.pid}" in (peek_holder(paths) or "")
        holder.send_signal(signal.SIGKILL)  # no release: the record stays, the flock goes
        holder.wait()
    assert json.loads(paths.run_lock.read_text())["run_id"] == "doomed-run"  # left behind
    leftovers = _make_leftovers(paths)

    started = time.monotonic()
    result = run_cli(data_dir, env={"HASHPIVOT_LOCK_WAIT_SECONDS": "600"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "waiting up to" not in result.stdout  # the kernel released the dead holder's lock
    summary = after_steps(result.stdout)
    assert summary[0].startswith("hashpivot run ")
    assert summary[0].endswith("SUCCEEDED")
    assert f"lock: took over from run doomed-run (pid {holder.pid}" in summary[1]
    assert summary[2].startswith("cleaned: 4 leftovers of dead runs removed: landing/")
    assert not any(path.exists() for path in leftovers)
    assert paths.run_lock.read_text() == ""  # released at the end of the run
    assert time.monotonic() - started < 600


def _make_leftovers(paths) -> list[Path]:
    """What dead runs leave: a hidden temporary landing file, a half-built published version,
    and scratch databases of the landing step and the audit (whose folders are removed)."""
    paths.landing_prices.mkdir(parents=True, exist_ok=True)
    paths.published.building("dead-run").mkdir(parents=True, exist_ok=True)
    paths.landing_scratch.mkdir(parents=True, exist_ok=True)
    paths.audit_scratch.parent.mkdir(parents=True, exist_ok=True)
    files = [
        paths.landing_prices / ".2026__demo__dead.parquet.4242.tmp",
        paths.published.building("dead-run") / "marts.duckdb",
        paths.landing_scratch / "landing-4242-x.duckdb",
        paths.audit_scratch,
    ]
    for path in files:
        path.write_text("left by a dead run")
    return files


def test_every_asset_and_check_takes_the_lock_first() -> None:
    """A UI run may materialize any subset, so every step must take the lock before it
    writes: its compute function calls hold_run_lock(context) before anything else."""
    import ast
    import inspect
    import textwrap

    from orchestration.definitions import defs

    repository = defs.get_repository_def()
    definitions = {
        id(d): d
        for d in [
            *repository.assets_defs_by_key.values(),
            *repository.asset_checks_defs_by_key.values(),
        ]
    }
    names = []
    for definition in definitions.values():
        if not definition.is_executable:
            continue  # a declared external asset (landing/retractions): no step of its own
        function = definition.op.compute_fn.decorated_fn
        body = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0].body
        statements = [s for s in body if not _is_docstring_or_import(s)]
        assert ast.unparse(statements[0]) == "hold_run_lock(context)", definition.op.name
        names.append(definition.op.name)
    assert {"landed_prices", "price_audit", "warehouse_suites", "dashboard"} <= set(names)


def _is_docstring_or_import(statement) -> bool:
    import ast

    is_docstring = isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
    return is_docstring or isinstance(statement, ast.Import | ast.ImportFrom)
