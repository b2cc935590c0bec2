r"""A mapped drive keeps its letter when a path is resolved (the Windows branch, as strings)."""

from __future__ import annotations

from pathlib import Path

from hipercow_core.drive_paths import keep_drive, resolve


def test_a_mapped_drive_is_not_turned_into_its_unc_path() -> None:
    assert keep_drive("V:\\proj\\sub\\..", "\\\\server\\share\\proj") == "V:\\proj"
    assert keep_drive("V:\\", "\\\\server\\share\\") == "V:\\"


def test_other_resolved_paths_are_kept() -> None:
    # a local drive, resolved through a symlink, and a path that was UNC already
    assert keep_drive("C:\\link\\x", "D:\\target\\x") == "D:\\target\\x"
    assert keep_drive("\\\\server\\share\\p", "\\\\server\\share\\p") == "\\\\server\\share\\p"


def test_posix_paths_are_resolved_as_ever(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert resolve(tmp_path / "link" / ".." / "link") == (tmp_path / "real").resolve()
