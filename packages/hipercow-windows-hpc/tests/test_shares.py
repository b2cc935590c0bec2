"""The `shares` option, drive letters, and where a local path is on the shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from hipercow_windows_hpc.errors import ShareError
from hipercow_windows_hpc.mounts import Mount
from hipercow_windows_hpc.paths import DEFAULT_LINUX_MOUNTS, Unc
from hipercow_windows_hpc.shares import Share, locate, parse_shares, resolve_shares


def test_share_syntax() -> None:
    assert parse_shares(
        "/home/bob/net/home=//qdrive/homes/bob:q, /data=\\\\nas\\lab, Q:=//qdrive/homes/bob/w:W:"
    ) == (
        Mount("/home/bob/net/home", Unc("qdrive", ("homes", "bob")), "Q:"),
        Mount("/data", Unc("nas", ("lab",)), None),
        Mount("Q:\\", Unc("qdrive", ("homes", "bob", "w")), "W:"),
    )
    assert parse_shares("") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/data", "LOCAL=//server/share"),
        ("/data=nas/lab", "LOCAL=//server/share"),
        ("/data=//nas", "names no share"),
        ("/a=//nas/a:V,/b=//nas/b:v", "drive V: is given to both //nas/a and //nas/b"),
        ("/a=//nas/a,/a=//nas/b", "given twice"),
        ("/a=//nas/a:C", "nodes' own drive"),
    ],
)
def test_bad_shares_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_shares(text)


def test_each_share_gets_its_own_letter() -> None:
    explicit = parse_shares("/p=//wpia-hn/hipercow:V,/h=//qdrive/homes/bob")
    detected = [
        Mount("/p", Unc("other", ("x",))),  # same local path: the explicit share wins
        Mount("/elsewhere", Unc("wpia-hn", ("HIPERCOW",))),  # same share: also overridden
        Mount("/lab", Unc("nas", ("lab",))),
        Mount("Z:\\", Unc("nas", ("scratch",)), "Z:"),  # Windows keeps its letter
        Mount("V:\\", Unc("nas", ("clash",)), "V:"),  # ... unless it is taken
    ]
    shares = resolve_shares(explicit, detected)
    assert [(s.local, s.remote.posix(), s.drive, s.detected) for s in shares] == [
        ("/p", "//wpia-hn/hipercow", "V:", False),
        ("/h", "//qdrive/homes/bob", "Q:", False),
        ("/lab", "//nas/lab", "W:", True),
        ("Z:\\", "//nas/scratch", "Z:", True),
        ("V:\\", "//nas/clash", "X:", True),
    ]
    assert len({s.drive for s in shares}) == len(shares)


def test_locate_picks_the_deepest_share(tmp_path: Path) -> None:
    (tmp_path / "inner" / "proj" / "sub").mkdir(parents=True)
    shares = [
        Share(str(tmp_path), Unc.parse("//wpia-hn/hipercow"), "V:"),
        Share(str(tmp_path / "inner"), Unc.parse("//qdrive/homes/bob"), "Q:"),
    ]
    where = locate(tmp_path / "inner" / "proj", shares)
    assert where.share.drive == "Q:"
    assert where.parts == ("proj",)
    assert where.windows() == "Q:\\proj"
    assert where.windows("sub", "run.bat") == "Q:\\proj\\sub\\run.bat"
    assert where.unc("sub").windows() == "\\\\qdrive\\homes\\bob\\proj\\sub"
    assert where.linux(DEFAULT_LINUX_MOUNTS, "sub") == "/mnt/homes/bob/proj/sub"
    assert locate(tmp_path, shares).windows() == "V:\\"


def test_a_project_outside_every_share_is_a_clear_error(tmp_path: Path) -> None:
    shares = [Share(str(tmp_path / "share"), Unc.parse("//nas/lab"), "V:")]
    with pytest.raises(ShareError, match="not on a network share") as caught:
        locate(tmp_path / "elsewhere", shares)
    assert caught.value.hint is not None and "shares=" in caught.value.hint


def test_a_share_without_a_linux_mount_is_a_clear_error(tmp_path: Path) -> None:
    where = locate(tmp_path, [Share(str(tmp_path), Unc.parse("//nas/lab"), "V:")])
    with pytest.raises(ShareError, match="no known mount point") as caught:
        where.linux(DEFAULT_LINUX_MOUNTS)
    assert caught.value.hint is not None and "linux_mounts=//nas/lab=" in caught.value.hint
