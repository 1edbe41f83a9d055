"""Errors a user can act on, first in `hashpivot run`'s output: an unwritable data dir (read-only,
full) and a step that crashes with an unexpected exception."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestration.cli import cannot_write_in_step, cannot_write_message, error_message
from tests.faults.runs import after_steps, run_cli


def _mount_namespace_prefix(tmp_path: Path) -> tuple[str, ...]:
    """``unshare`` into a private mount namespace (as root, or as a user mapped to root when
    user namespaces are allowed), where a tmpfs can be mounted and vanishes with the process."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare: cannot mount a read-only or full file system for the test")
    prefix = [unshare, "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    probe = subprocess.run(
        [*prefix, "mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"mount not permitted here ({probe.stderr.strip()}): chmod cannot stop root")
    return tuple(prefix)


@pytest.mark.parametrize(
    ("mount_options", "reason"),
    [("ro", "Read-only file system"), ("size=16k", "No space left on device")],
    ids=["read-only", "full"],
)
def test_an_unwritable_data_dir_is_named_first_without_a_traceback(
    tmp_path: Path, mount_options: str, reason: str
) -> None:
    """The data dir is a tmpfs mounted read-only, or one too small for anything, in a private
    mount namespace (chmod does not stop root): the first line says so, and nothing else ran."""
    prefix = _mount_namespace_prefix(tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # The CLI runs in the namespace after the mount; unshare's sh -c gets the command.
    mount = f'mount -t tmpfs -o {mount_options} tmpfs {data_dir} && exec "$@"'
    result = run_cli(data_dir, prefix=(*prefix, "sh", "-c", mount, "sh"), timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert result.stdout.splitlines()[0] == f"cannot write {data_dir}: {reason}", output
    assert "Traceback" not in output
    assert not (data_dir / "dagster_home").exists()  # nothing outside the mount was written


def test_cannot_write_message_reads_the_cause_chain() -> None:
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/warehouse/x.duckdb")
    wrapped = RuntimeError("the step failed")
    wrapped.__cause__ = full
    expected = "cannot write /data/warehouse/x.duckdb: No space left on device"
    assert cannot_write_message(wrapped) == expected
    assert cannot_write_message(OSError(errno.ENOENT, "No such file or directory", "/x")) is None


def test_a_crashed_step_prints_its_exception_message() -> None:
    """Dagster wraps the exception ('Error occurred while executing op ...'); the summary shows
    the exception's own message."""
    from dagster._utils.error import SerializableErrorInfo

    cause = SerializableErrorInfo("RuntimeError: disk on fire\n", [], "RuntimeError")
    wrapped = SerializableErrorInfo(
        'Error occurred while executing op "landed_prices":\n',
        [],
        "DagsterExecutionStepExecutionError",
        cause,
    )
    assert error_message(wrapped) == "RuntimeError: disk on fire"


def test_a_crashing_step_names_its_exception_in_the_first_line(tmp_path: Path) -> None:
    """A real run whose first step raises an unexpected exception (the extraction is replaced
    in the CLI's process, where the in-process executor runs every step)."""
    code = (
        "import sys\n"
        "import orchestration.extract.prices as prices\n"
        "def crash(*args, **kwargs):\n"
        "    raise RuntimeError('the price feed caught fire at row 42')\n"
        "prices.extract_prices = crash\n"
        "from orchestration.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    data_dir = tmp_path / "data"
    result = run_cli(data_dir, python_code=code, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    first = after_steps(result.stdout)[0]
    assert first == (
        "FAILED at step landed_prices: RuntimeError: the price feed caught fire at row 42"
    ), output
    assert "Traceback" not in result.stdout
    assert "  FAILED step landed_prices: RuntimeError: the price feed" in result.stdout


def test_a_step_that_hit_a_full_disk_says_cannot_write() -> None:
    """A step's serialized OSError (or DuckDB's IO error) of a full disk or a read-only file
    system becomes the 'cannot write' line; other errors do not."""
    assert (
        cannot_write_in_step(
            "OSError: [Errno 28] No space left on device: '/data/landing/prices/x.parquet'"
        )
        == "cannot write /data/landing/prices/x.parquet: No space left on device"
    )
    assert cannot_write_in_step(
        'IOException: IO Error: Could not write file "/data/warehouse/hashpivot.duckdb": '
        "Read-only file system"
    ).startswith("cannot write: Read-only file system (IOException: IO Error")
    assert cannot_write_in_step("OSError: [Errno 2] No such file or directory: '/x'") is None
    assert cannot_write_in_step("RuntimeError: the price feed caught fire") is None
