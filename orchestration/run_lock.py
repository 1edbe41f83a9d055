"""One writer per data dir: the run lock.

DuckDB allows one writer per file, and a run writes the warehouse, the ledger, the landing zone
and the published copy; two runs at once would make one die inside dbt with ``Could not set lock
on file ...``. So every run holds ``<data dir>/run.lock`` (an ``fcntl.flock``) from its first
step to its end, whether it was started by `hashpivot run`, the UI's launchpad or the schedule.

Where it is taken: Dagster has no hook that runs before a run's first step (``success_hook`` and
``failure_hook`` run after a step; run-status sensors run later, in the daemon, in another
process), and a run from the UI may materialize any subset of the assets. So every asset and
check calls ``hold_run_lock(context)`` first: the first step of a run takes the lock, the
others find it held by their run and return at once. The job uses the in-process executor, so
one Dagster run is one process, and the lock stays with that process until the run ends:
`hashpivot run` releases it when the run returns, a run launched by the UI or the schedule ends
with its process (`dagster api execute_run`), and a killed process's lock is released by the
kernel, so the next run takes it over (and reports whose it was: the holder record is left).

The lock file holds a JSON holder record (run id, pid, host, start time), so a waiting run can
name the run it waits for; a clean release empties it, so a record found by the next holder
means its writer died. Once the lock is held, leftovers of dead runs (temporary files, scratch
databases) are removed: only then is nothing else writing them.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from orchestration import settings
from orchestration.atomic import is_temporary, write_text_replacing
from orchestration.paths import DataPaths, data_paths

POLL_SECONDS = 0.25


class DataDirBusyError(RuntimeError):
    """Another live run holds the data dir's lock; the message names it."""


@dataclass
class HeldLock:
    """The lock of one data dir, held by this process for one run."""

    paths: DataPaths
    run_id: str
    fd: int
    record: dict[str, object]
    previous: dict[str, object] | None = None  # the record a dead holder left
    cleaned: list[str] = field(default_factory=list)
    waited_seconds: float = 0.0

    def release(self) -> None:
        """Empty the holder record and unlock (a no-op once released)."""
        if self.fd < 0:
            return
        try:
            os.ftruncate(self.fd, 0)
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1
            _HELD.pop(self.paths.run_lock, None)


# Locks this process holds, by lock file: one run at a time per process and data dir.
_HELD: dict[Path, HeldLock] = {}


@atexit.register
def _release_at_exit() -> None:
    """A run launched by the UI or the schedule ends with its process (`dagster api
    execute_run`): a normal exit releases cleanly, so only a killed run is reported as dead."""
    for held in list(_HELD.values()):
        held.release()


def describe(record: dict[str, object] | None) -> str:
    """'run <id> (pid <pid> on <host>, started <time>)', or what is known of the holder."""
    if not record:
        return "another run (its holder record is not written yet)"
    return (
        f"run {record.get('run_id', '?')} (pid {record.get('pid', '?')} on "
        f"{record.get('host', '?')}, started {record.get('started_at', '?')})"
    )


def read_holder(fd: int) -> dict[str, object] | None:
    """The holder record in the lock file, None when empty or half written."""
    size = os.fstat(fd).st_size
    text = os.pread(fd, max(size, 1), 0).decode(errors="replace").strip()
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def acquire(
    paths: DataPaths,
    run_id: str,
    wait_seconds: float,
    on_wait: Callable[[str], None] = lambda message: None,
) -> HeldLock:
    """Take the data dir's lock for ``run_id``, waiting up to ``wait_seconds`` for a live
    holder (``on_wait`` is told whom it waits for, once); DataDirBusyError when it stays held."""
    held = _HELD.get(paths.run_lock)
    if held is not None:
        if held.run_id == run_id:
            return held
        held.release()  # an earlier run of this process (tests, an in-process CLI) ended
    paths.run_lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.run_lock, os.O_RDWR | os.O_CREAT, 0o644)  # close-on-exec: dbt gets none
    started = time.monotonic()
    told = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            holder = read_holder(fd)
            waited = time.monotonic() - started
            if waited >= wait_seconds:
                raise DataDirBusyError(
                    f"data dir {paths.root} is in use by {describe(holder)}; gave up after "
                    f"waiting {waited:.1f} s ({settings.LOCK_WAIT_SECONDS.env_var}="
                    f"{wait_seconds:g}). Let that run finish, or stop it, and run again."
                )
            if not told:
                on_wait(
                    f"waiting up to {wait_seconds:g} s for the data dir {paths.root}, in use by "
                    f"{describe(holder)}"
                )
                told = True
            time.sleep(min(POLL_SECONDS, max(wait_seconds - waited, 0.01)))
    except BaseException:
        os.close(fd)
        raise
    previous = read_holder(fd)  # left by a holder that died without releasing
    record = {
        "run_id": run_id,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
    held = HeldLock(paths, run_id, fd, record, previous, waited_seconds=time.monotonic() - started)
    _HELD[paths.run_lock] = held
    return held


def remove_leftovers(paths: DataPaths) -> list[str]:
    """Delete what killed runs left (temporary files, scratch databases and their spill),
    only ever called with the lock held; returns the removed paths, relative to the data dir."""
    removed: list[Path] = []
    for area in (
        paths.root / "landing",
        paths.published.root,
        paths.quality,
        paths.warehouse.parent,
    ):
        if area.is_dir():
            for path in sorted(area.rglob(".*.tmp")):
                if is_temporary(path) and (path.is_file() or path.is_symlink()):
                    path.unlink(missing_ok=True)
                    removed.append(path)
    for folder in (paths.landing_scratch, paths.audit_scratch.parent, paths.published.spill):
        if folder.is_dir() and any(folder.iterdir()):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    # Published versions a killed publish was building (publish.py also prunes them).
    if paths.published.versions.is_dir():
        for folder in sorted(paths.published.versions.glob(".*.building")):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return [str(path.relative_to(paths.root)) for path in removed]


def hold_run_lock(context) -> HeldLock:
    """The first thing every asset and check does: hold the data dir's lock for this run (a
    no-op when this run already holds it). The first time, leftovers of dead runs are removed
    and a takeover reported, in the log and in ``<data dir>/logs/<run id>.lock.json`` (the
    CLI's summary). A ``dg.Failure`` naming the holder when it stays busy."""
    import dagster as dg

    run_id = context.run.run_id  # asset and check contexts both have the run
    paths = data_paths()
    held = _HELD.get(paths.run_lock)
    if held is not None and held.run_id == run_id:
        return held
    try:
        held = acquire(paths, run_id, settings.LOCK_WAIT_SECONDS.value(), context.log.warning)
    except DataDirBusyError as error:
        raise dg.Failure(description=str(error)) from error
    if held.previous:
        context.log.warning(f"took over the data dir's lock from {describe(held.previous)}")
    held.cleaned = remove_leftovers(paths)
    for path in held.cleaned:
        context.log.warning(f"removed {path}, left by a run that died")
    write_text_replacing(paths.run_lock_report(run_id), json.dumps(lock_report(held)))
    return held


def lock_report(held: HeldLock) -> dict[str, object]:
    return {
        "holder": held.record,
        "took_over_from": held.previous,
        "removed_leftovers": held.cleaned,
        "waited_seconds": round(held.waited_seconds, 1),
    }


def release_run_lock(run_id: str, paths: DataPaths | None = None) -> None:
    """Release the lock if this process holds it for ``run_id`` (the end of a CLI run)."""
    held = _HELD.get((paths or data_paths()).run_lock)
    if held is not None and held.run_id == run_id:
        held.release()


def lock_report_lines(paths: DataPaths, run_id: str) -> list[str]:
    """What the run summary says about the lock: a takeover and the leftovers removed."""
    report_file = paths.run_lock_report(run_id)
    if not report_file.exists():
        return []
    report = json.loads(report_file.read_text())
    lines = []
    if report.get("took_over_from"):
        lines.append(f"lock: took over from {describe(report['took_over_from'])}, which died")
    if report.get("waited_seconds", 0) >= 1:
        lines.append(f"lock: waited {report['waited_seconds']} s for the previous run")
    removed = report.get("removed_leftovers") or []
    if removed:
        shown = ", ".join(removed[:5]) + (
            f" and {len(removed) - 5} more" if len(removed) > 5 else ""
        )
        lines.append(f"cleaned: {len(removed)} leftovers of dead runs removed: {shown}")
    return lines


def peek_holder(paths: DataPaths) -> str | None:
    """Who holds the data dir's lock now (described), None when nobody does: for the CLI's
    'waiting for ...' line. Only a look: the run's first step takes the lock."""
    if not paths.run_lock.exists() or paths.run_lock in _HELD:
        return None
    try:
        fd = os.open(paths.run_lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return describe(read_holder(fd))
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
