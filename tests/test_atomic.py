"""Atomic writes: the old file or the new one, never half of one; immutable files stay as
written; nothing temporary is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.atomic import (
    is_temporary,
    replace_symlink,
    write_once,
    write_replacing,
    write_text_replacing,
)


def test_write_once_links_the_new_file_into_place_and_never_replaces(tmp_path: Path) -> None:
    final = tmp_path / "sub" / "a.parquet"
    with write_once(final) as temporary:
        assert is_temporary(temporary)
        assert temporary.parent == final.parent
        temporary.write_text("first")
    assert final.read_text() == "first"
    with pytest.raises(FileExistsError, match="written once"), write_once(final) as temporary:
        temporary.write_text("second")
    assert final.read_text() == "first"
    assert sorted(p.name for p in final.parent.iterdir()) == ["a.parquet"]


def test_a_failed_write_leaves_no_file_and_no_temporary(tmp_path: Path) -> None:
    final = tmp_path / "a.parquet"
    with pytest.raises(RuntimeError):
        _write_half_then_fail(final)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):
        write_replacing(final, lambda path: (path.write_text("x"), _fail()))
    assert list(tmp_path.iterdir()) == []


def _write_half_then_fail(final: Path) -> None:
    with write_once(final) as temporary:
        temporary.write_text("half")
        raise RuntimeError("disk full")


def _fail() -> None:
    raise RuntimeError("killed")


def test_write_replacing_replaces_whole(tmp_path: Path) -> None:
    final = tmp_path / "record.txt"
    write_text_replacing(final, "one\n")
    write_text_replacing(final, "two\n")
    assert final.read_text() == "two\n"
    assert [p.name for p in tmp_path.iterdir()] == ["record.txt"]


def test_replace_symlink_swaps_the_target(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    link = tmp_path / "current"
    replace_symlink(link, Path("v1"))
    assert link.resolve() == (tmp_path / "v1").resolve()
    replace_symlink(link, Path("v2"))
    assert link.resolve() == (tmp_path / "v2").resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "v1", "v2"]
