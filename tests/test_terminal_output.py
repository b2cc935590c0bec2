"""What a person watching a terminal sees: colours of the `bundle wait` progress bar.

These run hipercow with its stderr on a pseudo-terminal, as a person's shell
would, and read back the escape codes rich drew.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from hipercow_core.root import Root
from hipercow_testing import BIN, Cli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")

BAR = "━"
GREEN = "\x1b[32m"
RED = "\x1b[31m"


def on_a_terminal(project: Root, *args: str) -> tuple[int, str]:
    """Run hipercow with stderr on a pseudo-terminal; its exit code and what the terminal got."""
    import pty

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(TERM="xterm-256color", COLUMNS="100", LINES="30")
    env.pop("COLORTERM", None)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            [str(BIN / "hipercow"), *args],
            cwd=project.project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=follower,
            timeout=120,
            check=False,
        )
    finally:
        os.close(follower)
    reader.join(timeout=10)
    os.close(leader)
    return done.returncode, b"".join(chunks).decode(errors="replace")


def bar_colours(screen: str) -> set[str]:
    """The colours the finished part of the bar was drawn in."""
    return {colour for colour in (GREEN, RED) if colour + BAR in screen}


def test_the_bar_is_green_while_all_succeed_and_red_once_one_fails(cli: Cli, project: Root) -> None:
    cli("bulk", "create", "--name", "good", "--data", "x=0..3", "--", "sh", "-c", "sleep 0.@x")
    code, screen = on_a_terminal(project, "bundle", "wait", "good")
    assert code == 0
    assert bar_colours(screen) == {GREEN}

    cli("bulk", "create", "--name", "bad", "--data", "x=1..3", "--", "sh", "-c",
        "sleep 0.@x; test @x -ne 1")  # fmt: skip
    code, screen = on_a_terminal(project, "bundle", "wait", "bad")
    assert code == 1
    assert RED in bar_colours(screen)
