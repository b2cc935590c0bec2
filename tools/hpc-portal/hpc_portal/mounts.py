"""Path rules: where the cluster's shares live on this machine.

On the real cluster a Linux node sees the user's shares under fixed mount
points (``/mnt/cluster``, ``/mnt/homes/bob``); here those are local
directories. LinuxNodes jobs are run after rewriting those prefixes, in the
command and in the script it names, so the driver's real task files run
unchanged. Windows nodes see shares by UNC path; an optional table of UNC roots
lets the stand-in check that the batch file a Windows job names exists.
The rules are data (``PortalConfig.mounts``/``windows_shares``) by design.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: Characters that may continue a path component; a prefix only matches at a boundary.
_PATH_CHAR = r"[\w.\-]"
#: Commands after which a token names a script to translate.
_SCRIPT_RUNNERS = {"bash", "sh", "source", "."}
#: Scripts larger than this are not copied (they are not the driver's run script).
_MAX_SCRIPT_BYTES = 1 << 20


class MountTable:
    """Linux mount prefix -> local directory, longest prefix first."""

    def __init__(self, mounts: Mapping[str, str]) -> None:
        self._mounts = sorted(
            ((prefix.rstrip("/"), local.rstrip("/") or "/") for prefix, local in mounts.items()),
            key=lambda pair: len(pair[0]),
            reverse=True,
        )
        self._locals = dict(self._mounts)
        alternatives = "|".join(re.escape(prefix) for prefix, _ in self._mounts)
        self._pattern = (
            re.compile(rf"(?<![\w./\-])({alternatives})(?!{_PATH_CHAR})") if self._mounts else None
        )

    def translate_path(self, path: str) -> str | None:
        """The local path of a Linux path, or None if no configured mount holds it."""
        for prefix, local in self._mounts:
            if path == prefix or path.startswith(prefix + "/"):
                return local + path[len(prefix) :]
        return None

    def translate_text(self, text: str) -> str:
        """Rewrite every mount prefix that starts a path in ``text`` (a command or script)."""
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._locals[m.group(1)], text)


@dataclass
class PreparedCommand:
    """A Linux job's command ready to run, and the translated script copies it uses."""

    command: str
    copies: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _replace_path(text: str, old: str, new: str) -> str:
    pattern = rf"(?<![\w./\-]){re.escape(old)}(?!{_PATH_CHAR}|/)"
    return re.sub(pattern, lambda _m: new, text)


def prepare_linux_command(
    job_id: int, command: str, mounts: MountTable, scratch: Path
) -> PreparedCommand:
    """Translate a LinuxNodes command and copy the scripts it runs with translated text.

    The copy sits beside the original (so ``$(dirname "$0")`` still finds the task
    directory) under a hidden name, ``.standin-<job id>-<name>``, and is removed
    when the job ends; if that directory is read-only the copy goes to ``scratch``.
    Only the scripts named by the command are rewritten, not files they source.
    """
    prepared = PreparedCommand(command="")
    try:
        tokens = shlex.split(command)
    except ValueError:
        tokens = []
        prepared.notes.append("command could not be split into words; no script translated")
    replacements: dict[str, str] = {}
    for index, token in enumerate(tokens):
        local = mounts.translate_path(token)
        if local is None or local in replacements:
            continue
        previous = tokens[index - 1] if index else None
        if not (index == 0 or previous in _SCRIPT_RUNNERS or token.endswith(".sh")):
            continue
        source = Path(local)
        try:
            if not source.is_file() or source.stat().st_size > _MAX_SCRIPT_BYTES:
                continue
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        translated = mounts.translate_text(text)
        copy = source.with_name(f".standin-{job_id}-{source.name}")
        try:
            copy.write_text(translated, encoding="utf-8")
        except OSError:
            copy = scratch / f"standin-{job_id}-{source.name}"
            copy.write_text(translated, encoding="utf-8")
        copy.chmod(source.stat().st_mode & 0o777)
        prepared.copies.append(copy)
        replacements[local] = str(copy)
    result = mounts.translate_text(command)
    for local, copy_path in replacements.items():
        result = _replace_path(result, local, copy_path)
    prepared.command = result
    return prepared


#: A UNC path in a command: in double quotes (and then it may hold spaces), or a bare word.
_UNC = re.compile(r'"(\\\\[^"]+)"|(\\\\[^\s"]+)')


def unc_paths(command: str) -> list[str]:
    """The UNC paths a Windows command names, as cmd.exe splits it into words."""
    return [quoted or bare for quoted, bare in _UNC.findall(command)]


class ShareTable:
    """UNC share root -> local directory, for checking Windows jobs' batch files."""

    def __init__(self, shares: Mapping[str, str]) -> None:
        self._shares = sorted(
            ((unc.rstrip("\\").lower(), local) for unc, local in shares.items()),
            key=lambda pair: len(pair[0]),
            reverse=True,
        )

    def __bool__(self) -> bool:
        return bool(self._shares)

    def translate(self, unc: str) -> str | None:
        """The local path of a UNC path, or None if no configured share holds it."""
        lowered = unc.lower()
        for root, local in self._shares:
            if lowered == root or lowered.startswith(root + "\\"):
                rest = unc[len(root) :].replace("\\", "/")
                return local.rstrip("/") + rest
        return None

    def check_command(self, command: str) -> str | None:
        """Why a Windows command could not run here, or None if its UNC files exist."""
        paths = unc_paths(command)
        if not paths:
            return f"no UNC path in the command {command!r}"
        for unc in paths:
            local = self.translate(unc)
            if local is None:
                return f"The network path was not found: {unc}"
            if not Path(local).exists():
                return f"The system cannot find the path specified: {unc}"
        return None
