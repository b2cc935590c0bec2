"""The hipercow root: `hipercow/` inside the user's project directory.

The root is the one source of truth, kept on a share that the cluster nodes
see too. It is found like git finds `.git`: walking up from the working
directory.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from hipercow_core import __version__
from hipercow_core.drive_paths import resolve
from hipercow_core.errors import HipercowError, InvalidInputError, RootNotFoundError
from hipercow_core.fsutil import atomic_write, decode_as, read_bytes, storage_error, writing
from hipercow_core.ids import validate_task_id
from hipercow_core.schema import SCHEMA_VERSION, MachineConfig, RootMeta

ROOT_DIRNAME = "hipercow"
META_FILENAME = "hipercow.json"
ROOT_ENV = "HIPERCOW_ROOT"


def hostname() -> str:
    """This machine's name, which keys its driver configuration."""
    return os.environ.get("HIPERCOW_HOSTNAME") or socket.gethostname()


class Root:
    """A project directory holding a `hipercow/` root."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.path = project / ROOT_DIRNAME
        self._tasks_prefix = os.path.join(self.path, "tasks", "")

    def __repr__(self) -> str:
        return f"Root({str(self.project)!r})"

    @property
    def tasks_dir(self) -> Path:
        return self.path / "tasks"

    def task_dir(self, task_id: str) -> Path:
        """The directory of a task; the id is validated before any path is built."""
        return Path(self.task_path(task_id))

    def task_path(self, task_id: str) -> str:
        """`task_dir` as a string: listing 10,000 tasks should not build 10,000 Paths."""
        validate_task_id(task_id)
        return f"{self._tasks_prefix}{task_id[:2]}{os.sep}{task_id[2:]}"

    def config_path(self, host: str | None = None) -> Path:
        return self.path / "config" / f"{host or hostname()}.json"

    def cache_dir(self, host: str | None = None) -> Path:
        """Per-machine cache; only ever a cache, so losing it loses nothing."""
        return self.path / "cache" / (host or hostname())

    def relative_path(self, directory: Path) -> str:
        """`directory` relative to the project, POSIX-style, refusing paths outside it."""
        resolved = resolve(directory)
        project = resolve(self.project)
        try:
            relative = resolved.relative_to(project)
        except ValueError:
            raise InvalidInputError(
                f"'{directory}' is outside the project '{project}'",
                "Run hipercow from inside the project directory that holds the root.",
            ) from None
        return relative.as_posix() or "."

    @classmethod
    def find(cls, start: Path | None = None) -> Root:
        """The nearest root at or above `start` (or $HIPERCOW_ROOT when set)."""
        explicit = os.environ.get(ROOT_ENV)
        if explicit and start is None:
            root = cls(Path(explicit))
            if (root.path / META_FILENAME).is_file():
                return root
            raise RootNotFoundError(
                f"{ROOT_ENV} is '{explicit}', which holds no hipercow root",
                f"Run 'hipercow init {explicit}' or unset {ROOT_ENV}.",
            )
        here = resolve(start or Path.cwd())
        for candidate in (here, *here.parents):
            if (candidate / ROOT_DIRNAME / META_FILENAME).is_file():
                return cls(candidate)
        raise RootNotFoundError(
            f"no hipercow root found in '{here}' or any directory above it",
            "Run 'hipercow init' in your project directory first.",
        )

    @classmethod
    def init(cls, project: Path) -> tuple[Root, bool]:
        """Create the root if needed; returns the root and whether it was new."""
        try:
            root = cls(resolve(project))
            meta = root.path / META_FILENAME
            if meta.is_file():
                return root, False
        except OSError as e:
            raise _cannot_init(project, e) from None
        for directory in (root.project, root.path):
            if directory.exists() and not directory.is_dir():
                raise InvalidInputError(
                    f"'{directory}' exists and is not a directory",
                    "Give the project directory, or move that file away and run "
                    "'hipercow init' again.",
                )
        try:
            with writing(root.path):
                root.tasks_dir.mkdir(parents=True, exist_ok=True)
                (root.path / "config").mkdir(exist_ok=True)
            atomic_write(
                root.path / ".gitignore",
                b"# hipercow's task store: not for version control\n*\n",
            )
            record = RootMeta(
                schema_version=SCHEMA_VERSION,
                created=datetime.now(UTC),
                hipercow_version=__version__,
            )
            atomic_write(meta, msgspec.json.encode(record))
        except OSError as e:
            raise _cannot_init(root.path, e) from None
        return root, True

    def meta(self) -> RootMeta:
        path = self.path / META_FILENAME
        raw = read_bytes(path)
        if raw is None:
            raise RootNotFoundError(f"'{self.path}' is not a hipercow root")
        return decode_as(
            path, raw, RootMeta, "Restore it from a backup, or remove it and run 'hipercow init'."
        )

    def machine_config(self, host: str | None = None) -> MachineConfig:
        path = self.config_path(host)
        raw = read_bytes(path)
        if raw is None:
            return MachineConfig()
        return decode_as(
            path,
            raw,
            MachineConfig,
            "Run 'hipercow driver configure NAME' to replace it, or remove the file.",
        )

    def save_machine_config(self, config: MachineConfig, host: str | None = None) -> None:
        path = self.config_path(host)
        with writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, msgspec.json.format(msgspec.json.encode(config)) + b"\n")


def _cannot_init(path: Path, error: OSError) -> HipercowError:
    translated = storage_error(error, path)
    if translated is not None:
        return translated
    return InvalidInputError(
        f"cannot make a hipercow root at '{path}': {error.strerror or error}",
        "Give a directory you can write to.",
    )
