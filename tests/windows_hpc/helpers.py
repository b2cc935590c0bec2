"""Helpers shared by the windows-hpc portal tests: the users, the CLI, the call log.

Kept out of conftest.py so test modules can import them by name
(`windows_hpc.helpers`, with `tests/` on the path).
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from hpc_portal import PortalStandin

from hipercow_testing import BIN, Result

#: bob's password: base64 of it holds '+' and '/', and it has non-ASCII text.
PASSWORD = "Zz9~>?sécret+/#1"
USER = "bob"
CAROL_PASSWORD = "carol-pw"


def secret_forms(secret: str) -> list[bytes]:
    """The ways a secret could leak: as text, base64, and url-escaped base64."""
    encoded = base64.b64encode(secret.encode()).decode()
    return [secret.encode(), encoded.encode(), quote_plus(encoded).encode()]


Configure = Callable[..., dict[str, Any]]


class PortalCli:
    """`hipercow` as a user runs it, with the test keyring, and stdin when given."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = {**os.environ, "NO_COLOR": "1", **env}
        self.env.pop("HIPERCOW_TRACEBACK", None)
        self.outputs: list[str] = []

    def __call__(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 120
    ) -> Result:
        done = subprocess.run(
            [str(BIN / "hipercow"), *args],
            check=False,
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
        result = Result(done.returncode, done.stdout, done.stderr)
        self.outputs.append(result.output)
        if check and result.code != 0:
            raise AssertionError(
                f"hipercow {' '.join(args)} exited {result.code}\n{result.stdout}\n{result.stderr}"
            )
        return result


def calls(portal: PortalStandin, path: str | None = None) -> list[dict[str, Any]]:
    """Protocol calls so far; every one must have been accepted by the strict stand-in."""
    found = portal.calls(path)
    refused = [(c["path"], c["error"]) for c in found if c["error"]]
    assert not refused, f"the stand-in refused calls: {refused}"
    return found


def logins(portal: PortalStandin) -> list[dict[str, Any]]:
    return [c for c in calls(portal, "index.php") if c["method"] == "POST"]
