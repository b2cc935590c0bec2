"""Atomic, write-once and removed files while another holder has them open.

On Windows a file held open cannot be replaced (WinError 5) or deleted
(WinError 32) until it is closed; the Windows tier (tests/windows) runs these
there, where they failed before the writes waited such holders out. On POSIX
they check the same outcomes, which hold without waiting.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from hipercow_core import fsutil


def held_open_for(path: Path, seconds: float) -> threading.Thread:
    """Open `path` for reading now and close it after `seconds` (a reader elsewhere)."""
    handle = path.open("rb")
    closer = threading.Timer(seconds, handle.close)
    closer.start()
    return closer


def test_replacing_a_file_someone_is_reading_waits_for_them(tmp_path: Path) -> None:
    path = tmp_path / "last"
    path.write_bytes(b"old")
    closer = held_open_for(path, 0.5)
    fsutil.atomic_write(path, b"new")
    closer.join()
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["last"]  # no temporary left behind


def test_removing_a_tree_with_an_open_file_removes_all_of_it(tmp_path: Path) -> None:
    tree = tmp_path / "task"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "log").write_bytes(b"output")
    closer = held_open_for(tree / "sub" / "log", 0.5)
    fsutil.remove_tree(tree)
    closer.join()
    assert not tree.exists()


def test_write_once_without_hard_links_refuses_a_second_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filesystem without hard links (FAT, some shares): rename decides who was first."""

    def no_links(source: str, target: str) -> None:
        raise OSError(1, "hard links not supported here")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "finished"
    assert fsutil.write_once(path, b"first") is True
    assert fsutil.write_once(path, b"second") is False
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["finished"]
