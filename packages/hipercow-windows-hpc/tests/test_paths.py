"""UNC paths and the table of where shares appear on the Linux nodes."""

from __future__ import annotations

import pytest

from hipercow_windows_hpc.paths import (
    DEFAULT_LINUX_MOUNTS,
    Unc,
    canonical_host,
    drive_path,
    linux_path,
    parse_linux_mounts,
)


def test_unc_reads_both_slash_styles() -> None:
    forward = Unc.parse("//qdrive/homes/bob")
    backward = Unc.parse("\\\\qdrive\\homes\\bob\\")
    assert forward == backward == Unc("qdrive", ("homes", "bob"))
    assert forward.share == "homes"
    assert forward.windows() == "\\\\qdrive\\homes\\bob"
    assert forward.posix() == "//qdrive/homes/bob"


@pytest.mark.parametrize(
    "text", ["/home/bob", "//server", "//server/", "C:\\x", "//s/a:b", "//s/../x"]
)
def test_unc_refuses_what_is_not_a_share(text: str) -> None:
    with pytest.raises(ValueError, match=r"share|network path|invalid"):
        Unc.parse(text)


def test_hosts_compare_by_short_name_and_alias() -> None:
    assert canonical_host("WPIA-HN.hpc.dide.ic.ac.uk") == "wpia-hn"
    assert canonical_host("wpia-san04.dide.ic.ac.uk") == "qdrive"
    home = Unc.parse("//qdrive.dide.ic.ac.uk/Homes/bob/Project")
    assert home.is_within(Unc.parse("//wpia-san04/homes"))
    assert not home.is_within(Unc.parse("//qdrive/homes/alice"))


def test_default_rules_put_home_and_cluster_shares_where_the_nodes_mount_them() -> None:
    rules = DEFAULT_LINUX_MOUNTS
    assert linux_path(Unc.parse("//qdrive/homes/bob/proj"), rules) == "/mnt/homes/bob/proj"
    assert linux_path(Unc.parse("//wpia-hn/hipercow/proj"), rules) == "/mnt/cluster/proj"
    assert linux_path(Unc.parse("//wpia-hn.hpc/cluster-storage"), rules) == "/mnt/cluster"
    assert linux_path(Unc.parse("//elsewhere/share"), rules) is None


def test_user_rules_are_data_and_win_over_the_defaults() -> None:
    rules = (
        *parse_linux_mounts("//wpia-hn/hipercow=/srv/hc/ , //nas/lab=/mnt/lab"),
        *DEFAULT_LINUX_MOUNTS,
    )
    assert linux_path(Unc.parse("//wpia-hn/hipercow/x"), rules) == "/srv/hc/x"
    assert linux_path(Unc.parse("//nas/lab"), rules) == "/mnt/lab"
    deeper = parse_linux_mounts("//wpia-hn/hipercow/special=/special")
    assert (
        linux_path(Unc.parse("//wpia-hn/hipercow/special/a"), (*DEFAULT_LINUX_MOUNTS, *deeper))
        == "/special/a"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("//nas/lab", "of the form"),
        ("//nas/lab=mnt/lab", "absolute"),
        ("nas/lab=/mnt", "network path"),
    ],
)
def test_bad_rules_are_refused_with_the_entry(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_linux_mounts(text)


def test_drive_paths() -> None:
    assert drive_path("V:", ("proj", "sub")) == "V:\\proj\\sub"
    assert drive_path("V:", ()) == "V:\\"
