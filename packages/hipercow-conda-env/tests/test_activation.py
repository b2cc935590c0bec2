"""Activation scripts as the runner applies them: sourced in order, in a POSIX shell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hipercow_core.environments import ActivationError, run_activation


def test_scripts_are_sourced_in_order_over_the_environment(tmp_path: Path) -> None:
    first = tmp_path / "a.sh"
    first.write_text(
        'echo "tool: activating"\nexport TOOL_HOME="$CONDA_PREFIX/share/tool"\nexport LIST=one\n'
        "cd /\n"  # nor does a change of directory leak into the task's variables
    )
    second = tmp_path / "b.sh"
    second.write_text(
        'export LIST="$LIST:two"\nexport MULTI="line1\nline2"\nunset DROP_ME\n'
        '[ -n "$UNSET_THING" ] && export NEVER=1\n'  # a false last status is no failure
    )
    env = {"PATH": os.environ["PATH"], "CONDA_PREFIX": "/envs/bio", "DROP_ME": "x", "PWD": "/work"}
    result = run_activation([first, second], env)
    assert result["TOOL_HOME"] == "/envs/bio/share/tool"
    assert result["LIST"] == "one:two" and result["MULTI"] == "line1\nline2"
    assert "DROP_ME" not in result and result["CONDA_PREFIX"] == "/envs/bio"
    assert "NEVER" not in result
    assert result["PWD"] == "/work" and "OLDPWD" not in result and "SHLVL" not in result


def test_a_failing_script_is_an_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sh"
    bad.write_text("echo 'refgenome: data missing' >&2\nexit 3\n")
    with pytest.raises(ActivationError, match="refgenome: data missing") as caught:
        run_activation([bad], {"PATH": os.environ["PATH"]})
    assert str(bad) in (caught.value.hint or "")
