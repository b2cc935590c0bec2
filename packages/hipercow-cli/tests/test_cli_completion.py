"""Shell completion as bash drives it: the installed script, the environment variables, the values.

bash completes `hipercow` by running it with `_HIPERCOW_COMPLETE=complete_bash`
and the command line in `COMP_WORDS`/`COMP_CWORD`; the real console script is
run that way here, and then through bash itself with the script that
`hipercow --show-completion` prints (what `--install-completion` installs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hipercow_cli_testing import Run
from hipercow_core.root import Root

HIPERCOW = Path(sys.executable).parent / "hipercow"


def complete(root: Root | Path, line: str) -> list[str]:
    """What `hipercow` offers for the last word of `line` (after a space: a new word)."""
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    env = {
        **{k: v for k, v in os.environ.items() if k != "HIPERCOW_ROOT"},
        "_HIPERCOW_COMPLETE": "complete_bash",
        "COMP_WORDS": line,
        "COMP_CWORD": str(cword),
    }
    done = subprocess.run(
        [str(HIPERCOW)],
        cwd=root.project if isinstance(root, Root) else root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in done.stdout.splitlines() if line]


def made(piped: Run, *args: str) -> str:
    result = piped(*args)
    assert result.code == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def ids(project: Root, piped: Run) -> list[str]:
    """Three tasks, oldest first, and a bundle `sweep` of two more."""
    found = [made(piped, "task", "create", "--", "echo", str(i)) for i in range(3)]
    made(piped, "bulk", "create", "--name", "sweep", "--data", "n=1..2", "--", "echo", "@n")
    return found


def test_task_ids_newest_first_and_by_prefix(project: Root, ids: list[str]) -> None:
    offered = complete(project, "hipercow task status ")
    assert len(offered) == 5  # the bundle's two tasks too
    assert offered[-3:] == ids[::-1]  # newest first: the bundle's come before these
    assert complete(project, f"hipercow task log --follow {ids[1][:6]}") == [
        i for i in offered if i.startswith(ids[1][:6])
    ]
    assert ids[0] in complete(project, "hipercow task create --depends-on ")


def test_bundle_names_commands_and_options(project: Root, ids: list[str]) -> None:
    assert complete(project, "hipercow bundle wait ") == ["sweep"]
    assert complete(project, "hipercow bundle status sw") == ["sweep"]
    assert complete(project, "hipercow bundle status x") == []
    assert "sweep" in complete(project, "hipercow task create --depends-on ")
    assert "sweep" in complete(project, "hipercow purge --bundle ")
    assert complete(project, "hipercow bun") == ["bundle"]
    assert "--fail-early" in complete(project, "hipercow bundle wait --")
    assert "local" in complete(project, "hipercow driver configure ")
    assert complete(project, "hipercow task create --environment ") == ["empty"]
    assert complete(project, "hipercow task list --status success,fa") == ["success,failure"]
    assert complete(project, "hipercow environment new x --engine ") == [
        "conda",
        "empty",
        "pip",
        "uv",
    ]


def test_outside_a_root_nothing_is_offered(tmp_path: Path) -> None:
    assert not any((p / "hipercow").is_dir() for p in (tmp_path, *tmp_path.parents))
    assert complete(tmp_path, "hipercow task status ") == []
    assert complete(tmp_path, "hipercow bundle status ") == []
    assert complete(tmp_path, "hipercow tas") == ["task"]  # commands need no root


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_itself_completes_with_the_installed_script(project: Root, ids: list[str]) -> None:
    """The script `--show-completion` prints, sourced by bash, fills COMPREPLY in our order."""
    script = subprocess.run(
        ["bash", "-c", f"'{HIPERCOW}' --show-completion"],
        cwd=project.project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "complete -o nosort" in script  # bash would otherwise sort the ids
    driver = (
        f"PATH='{HIPERCOW.parent}':$PATH\n{script}\n"
        'COMP_WORDS=(hipercow "$1" "$2" "$3"); COMP_CWORD=3\n'
        "_hipercow_completion hipercow\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )

    def bash(*words: str) -> list[str]:
        done = subprocess.run(
            ["bash", "-c", driver, "bash", *words],
            cwd=project.project,
            capture_output=True,
            text=True,
            check=True,
        )
        return [line for line in done.stdout.splitlines() if line]

    every = bash("task", "info", "")
    assert len(every) == 5 and every[-3:] == ids[::-1]
    assert bash("task", "info", ids[2][:5]) == [i for i in every if i.startswith(ids[2][:5])]
    assert bash("bundle", "log", "") == ["sweep"]
