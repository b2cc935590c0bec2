"""A keyring backend for tests: secrets in a JSON file named by $HIPERCOW_TEST_KEYRING.

CLI commands run as separate processes, so an in-memory keyring would forget
between them; the file lives in a temporary directory outside the project
(the tests check that no secret lands under the project) and is removed by
the fixture that made it. Select it with
PYTHON_KEYRING_BACKEND=windows_hpc.keyring_backend.FileKeyring and `tests/` on
PYTHONPATH.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

ENV = "HIPERCOW_TEST_KEYRING"


class FileKeyring(KeyringBackend):
    """Secrets keyed by service and user name, in one small JSON file."""

    priority = 1

    @staticmethod
    def _path() -> Path:
        return Path(os.environ[ENV])

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self._path().read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        assert isinstance(data, dict)
        return {str(k): str(v) for k, v in data.items()}

    def _save(self, data: dict[str, str]) -> None:
        self._path().write_text(json.dumps(data), encoding="utf-8")

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\x00{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\x00{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}\x00{username}", None) is None:
            raise PasswordDeleteError(username)
        self._save(data)
