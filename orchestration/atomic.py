"""Atomic file writes: a reader (or a run after a crash) sees the old file or the new one, never
a half-written one. Every file the pipeline writes goes through one of these.

- ``write_once``: immutable files (landing files, ledger files). The new file is written under a
  hidden temporary name beside its final one, flushed to disk, then hard-linked into place:
  unlike a rename, a link never replaces an existing file, so what is written stays written.
- ``write_replacing`` / ``write_text_replacing``: files that are replaced whole (records,
  caches, the published DuckDB file), renamed over the old one.
- ``replace_symlink``: a symlink swapped in one rename (the published Parquet version).

Leftover temporary files of killed runs all match ``.*.tmp`` (``is_temporary``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_path(final: Path, tag: str = "") -> Path:
    """A hidden name beside ``final`` that no reader's glob matches and no other process uses."""
    return final.with_name(f".{final.name}.{os.getpid()}{tag}.tmp")


def is_temporary(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(".tmp")


def fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def fsync_directory(directory: Path) -> None:
    """Make a new directory entry (a link or a rename) durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def write_once(final: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on a clean exit, link it to ``final``. Raises
    FileExistsError when ``final`` exists (before and after the write); the temporary file is
    always removed."""
    if final.exists():
        raise FileExistsError(f"{final} exists already; it is written once and never replaced")
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(final)
    try:
        yield temporary
        fsync_file(temporary)
        os.link(temporary, final)
        fsync_directory(final.parent)
    finally:
        temporary.unlink(missing_ok=True)


def write_replacing(final: Path, write: Callable[[Path], None]) -> None:
    """``write`` a temporary file, then rename it over ``final`` (created or replaced whole)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(final)
    try:
        write(temporary)
        fsync_file(temporary)
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_replacing(final: Path, text: str) -> None:
    write_replacing(final, lambda temporary: temporary.write_text(text))


def replace_symlink(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` in one rename: readers see the old or the new, never none."""
    temporary = temporary_path(link)
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target, target_is_directory=True)
    os.replace(temporary, link)
