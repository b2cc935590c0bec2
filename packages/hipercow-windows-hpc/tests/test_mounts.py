"""Parsing each system's list of mounted shares, from captured outputs."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

import pytest

from hipercow_core.errors import HipercowWarning
from hipercow_windows_hpc.mounts import (
    Mount,
    detect_mounts,
    parse_cifs_mounts,
    parse_smb_mappings_csv,
    parse_smbfs_mounts,
    skipped_smb_mappings,
)
from hipercow_windows_hpc.paths import Unc

LINUX_MOUNT_T_CIFS = r"""//qdrive.dide.ic.ac.uk/homes/bob on /home/bob/net/home type cifs (rw,relatime,vers=3.1.1,cache=strict,username=bob,domain=DIDE,uid=1000,forceuid,gid=1000,forcegid,addr=155.198.0.1,file_mode=0755,dir_mode=0755,soft,nounix,serverino,mapposix,rsize=4194304,wsize=4194304,bsize=1048576,echo_interval=60,actimeo=1,closetimeo=1)
//wpia-hn.hpc.dide.ic.ac.uk/cluster-storage on /home/bob/net/cluster type cifs (rw,relatime,vers=3.0,cache=strict,username=bob,domain=DIDE)
//wpia-hn/hipercow/my\040project on /mnt/my\040project type cifs (rw,relatime)
"""

MACOS_MOUNT_T_SMBFS = """//bob@qdrive.dide.ic.ac.uk/homes on /Volumes/homes (smbfs, nodev, nosuid, mounted by bob)
//BOB@wpia-hn.hpc.dide.ic.ac.uk/cluster-storage on /Volumes/cluster-storage (smbfs, nodev, nosuid, mounted by bob)
//bob@wpia-hn/My%20Share on /Volumes/My Share (smbfs, nodev, nosuid, mounted by bob)
"""

WINDOWS_GET_SMBMAPPING_CSV = r""""Status","LocalPath","RemotePath"
"OK","Q:","\\qdrive\homes\bob"
"Unavailable","t:","\\wpia-hn\temp"
"OK","","\\wpia-hn\IPC$"
"Disconnected","V:","\\wpia-hn.hpc.dide.ic.ac.uk\cluster-storage"
"""


def test_linux_cifs_mounts() -> None:
    assert parse_cifs_mounts(LINUX_MOUNT_T_CIFS) == [
        Mount("/home/bob/net/home", Unc("qdrive.dide.ic.ac.uk", ("homes", "bob"))),
        Mount("/home/bob/net/cluster", Unc("wpia-hn.hpc.dide.ic.ac.uk", ("cluster-storage",))),
        Mount("/mnt/my project", Unc("wpia-hn", ("hipercow", "my project"))),
    ]


def test_macos_smbfs_mounts() -> None:
    assert parse_smbfs_mounts(MACOS_MOUNT_T_SMBFS) == [
        Mount("/Volumes/homes", Unc("qdrive.dide.ic.ac.uk", ("homes",))),
        Mount("/Volumes/cluster-storage", Unc("wpia-hn.hpc.dide.ic.ac.uk", ("cluster-storage",))),
        Mount("/Volumes/My Share", Unc("wpia-hn", ("My Share",))),
    ]


def test_windows_smb_mappings_keep_their_drive_letters() -> None:
    assert parse_smb_mappings_csv(WINDOWS_GET_SMBMAPPING_CSV) == [
        Mount("Q:\\", Unc("qdrive", ("homes", "bob")), "Q:"),
    ]


def test_disconnected_and_unavailable_mappings_are_left_out_and_named() -> None:
    assert skipped_smb_mappings(WINDOWS_GET_SMBMAPPING_CSV) == [
        "T: \\\\wpia-hn\\temp (Unavailable)",
        "V: \\\\wpia-hn.hpc.dide.ic.ac.uk\\cluster-storage (Disconnected)",
    ]
    with pytest.warns(HipercowWarning, match="left out mapped drives that are not connected: T:"):
        found = detect_mounts("win32", lambda command: WINDOWS_GET_SMBMAPPING_CSV)
    assert [m.drive for m in found] == ["Q:"]


def test_windows_csv_with_every_column_and_a_type_line() -> None:
    text = (
        "#TYPE Microsoft.Management.Infrastructure.CimInstance\n"
        '"Status","LocalPath","RemotePath","RequireIntegrity","RequirePrivacy"\n'
        '"OK","Z:","\\\\nas\\lab","False","False"\n'
    )
    assert parse_smb_mappings_csv(text) == [Mount("Z:\\", Unc("nas", ("lab",)), "Z:")]


def test_unrelated_lines_are_ignored() -> None:
    assert parse_cifs_mounts("proc on /proc type proc (rw)\n\n") == []
    assert parse_smbfs_mounts("/dev/disk1 on / (apfs, local)\n") == []
    assert parse_smb_mappings_csv("") == []


def test_detect_runs_the_systems_command() -> None:
    seen: list[Sequence[str]] = []

    def run(command: Sequence[str]) -> str:
        seen.append(command)
        return {"mount": LINUX_MOUNT_T_CIFS, "powershell": WINDOWS_GET_SMBMAPPING_CSV}[command[0]]

    assert len(detect_mounts("linux", run)) == 3
    assert seen[-1] == ["mount", "-t", "cifs"]
    with pytest.warns(HipercowWarning):
        assert len(detect_mounts("win32", run)) == 1  # the two not connected are left out
    assert seen[-1][0] == "powershell" and "Get-SmbMapping" in seen[-1][-1]


def test_detect_is_empty_when_the_command_fails() -> None:
    def fail(command: Sequence[str]) -> str:
        raise subprocess.CalledProcessError(32, list(command))

    def missing(command: Sequence[str]) -> str:
        raise FileNotFoundError(command[0])

    assert detect_mounts("darwin", fail) == []
    assert detect_mounts("win32", missing) == []
