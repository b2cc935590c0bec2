"""Finding the network shares this machine has mounted, on Linux, macOS and Windows.

Users mount several shares at once (home drive, project share, cluster
storage), and the driver must know each one to map the project onto the
nodes. Each system lists them differently: `mount -t cifs` on Linux,
`mount -t smbfs` on macOS, `Get-SmbMapping` (as CSV) on Windows. The parsers
are pure functions over that text, so they are tested on captured outputs;
only `detect_mounts` runs a command, with the standard library's subprocess
(`sh` does not exist on Windows).
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from hipercow_core.errors import HipercowWarning
from hipercow_core.log import get_logger
from hipercow_windows_hpc.paths import Unc

log = get_logger(__name__)

_CIFS_LINE = re.compile(r"^(?P<remote>\S+) on (?P<local>.+?) type cifs\b")
_SMBFS_LINE = re.compile(
    r"^//(?:[^@/\s]*@)?(?P<host>[^/\s]+)/(?P<path>.+?) on (?P<local>.+?) \(smbfs\b"
)
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")
_DRIVE = re.compile(r"^[A-Za-z]:$")

#: UTF-8 output, so share names outside the console's code page survive.
POWERSHELL_COMMAND = (
    "[Console]::OutputEncoding = [System.Text.Encoding]::UTF8; "
    "Get-SmbMapping | Select-Object Status,LocalPath,RemotePath | ConvertTo-Csv -NoTypeInformation"
)


@dataclass(frozen=True)
class Mount:
    """A share mounted here: where (`local`), what (`remote`), and its drive letter on Windows."""

    local: str
    remote: Unc
    drive: str | None = None


def _unescape(text: str) -> str:
    """Undo the octal escapes (`\\040` for a space) that mount tables use."""
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m[1], 8)), text)


def parse_cifs_mounts(text: str) -> list[Mount]:
    """Mounts from Linux `mount -t cifs`: `//server/share on /local type cifs (...)`."""
    found = []
    for line in text.splitlines():
        match = _CIFS_LINE.match(line.strip())
        if match is None:
            continue
        try:
            remote = Unc.parse(_unescape(match["remote"]))
        except ValueError:
            continue
        found.append(Mount(_unescape(match["local"]), remote))
    return found


def parse_smbfs_mounts(text: str) -> list[Mount]:
    """Mounts from macOS `mount -t smbfs`: `//user@server/share on /Volumes/x (smbfs, ...)`."""
    found = []
    for line in text.splitlines():
        match = _SMBFS_LINE.match(line.strip())
        if match is None:
            continue
        try:
            remote = Unc.parse(f"//{match['host']}/{unquote(match['path'])}")
        except ValueError:
            continue
        found.append(Mount(match["local"], remote))
    return found


def _smb_rows(text: str) -> list[tuple[str, Mount]]:
    """(status, mount) for each mapped drive of `Get-SmbMapping | ConvertTo-Csv`."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    found = []
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        local = (row.get("LocalPath") or "").strip()
        remote_text = (row.get("RemotePath") or "").strip()
        if not _DRIVE.match(local) or not remote_text:
            continue
        try:
            remote = Unc.parse(remote_text)
        except ValueError:
            continue
        drive = local.upper()
        found.append(((row.get("Status") or "").strip(), Mount(drive + "\\", remote, drive)))
    return found


def parse_smb_mappings_csv(text: str) -> list[Mount]:
    """Working mapped drives from Windows `Get-SmbMapping | ConvertTo-Csv`.

    Rows without a drive are left out, and so are mappings whose status is
    not `OK` (`Disconnected`, `Unavailable`, ...): jobs would map a share
    that is not there (`skipped_smb_mappings` says which).
    """
    return [mount for status, mount in _smb_rows(text) if status.upper() == "OK"]


def skipped_smb_mappings(text: str) -> list[str]:
    """The mapped drives `parse_smb_mappings_csv` leaves out for their status, as people read them."""
    return [
        f"{mount.drive} {mount.remote.windows()} ({status or 'no status'})"
        for status, mount in _smb_rows(text)
        if status.upper() != "OK"
    ]


Runner = Callable[[Sequence[str]], str]


def _run(command: Sequence[str]) -> str:
    done = subprocess.run(
        list(command),
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=20,
        stdin=subprocess.DEVNULL,
        check=True,
    )
    return done.stdout


def detect_mounts(system: str | None = None, run: Runner = _run) -> list[Mount]:
    """The shares mounted on this machine; empty (and logged) when they cannot be listed."""
    system = system or sys.platform
    command: list[str]
    parser: Callable[[str], list[Mount]]
    if system == "win32":
        command = ["powershell", "-NoProfile", "-NonInteractive", "-Command", POWERSHELL_COMMAND]
        parser = parse_smb_mappings_csv
    elif system == "darwin":
        command, parser = ["mount", "-t", "smbfs"], parse_smbfs_mounts
    else:
        command, parser = ["mount", "-t", "cifs"], parse_cifs_mounts
    try:
        text = run(command)
    except (OSError, subprocess.SubprocessError) as e:
        log.debug("could not list network mounts", command=command[0], error=str(e))
        return []
    found = parser(text)
    skipped = skipped_smb_mappings(text) if system == "win32" else []
    if skipped:
        warnings.warn(
            HipercowWarning(
                f"left out mapped drives that are not connected: {', '.join(skipped)}; "
                "reconnect them (open them in Explorer) if the project needs them"
            ),
            stacklevel=2,
        )
    log.debug("network mounts found", count=len(found), skipped=len(skipped))
    return found
