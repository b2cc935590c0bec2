"""The guide's examples, read from its pages and run as a reader would run them.

Every fenced `sh` or `python` block of a page under docs/guide/ is run, in
page order, in one bash session (so `cd`, variables and files carry from one
block to the next) in an empty directory with a home of its own, against the
local driver. An HTML comment on the line just before a block changes that:

    <!-- example: needs slurm -->        not run here: needs that cluster (or windows-hpc,
                                         conda-forge, install: see NEEDS); the Slurm
                                         and portal tests run those pages with it
    <!-- example: fails -->              must exit non-zero (an error shown on purpose)
    <!-- example: file analysis/fit.py -->  the block is that file's content, written there
    <!-- example: output -->             (before a `text` block) lines the block above printed

and one anywhere on a page asks for a service for all its blocks:

    <!-- examples: redis -->             a real redis-server; its address in $REDIS_URL

Any other `example:` comment, or a runnable block of another language, is an
error, so a typo cannot quietly stop an example from running. Adding a page
is adding its file (and its line in mkdocs.yml's nav): nothing here changes.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "guide"
BIN = Path(sys.executable).parent

RUN = ("sh", "python")
"""Languages whose blocks run; any other fence (text, toml, yaml, ...) is only shown."""
NOT_RUN = ("text", "toml", "yaml", "ini", "csv", "json")
NEEDS = ("slurm", "windows-hpc", "conda-forge", "install")
"""What a block may say it needs instead of running here: a cluster, a public conda channel
(the tests reach PyPI but not conda's channels), or installing hipercow itself (which
.ci/run does, from a clean machine)."""
SERVICES = ("redis",)

FAILS_SUCCEEDED = 97
"""The page script's exit code when a block marked 'fails' exited 0."""

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+)(?P<info>[^`]*)$")
_MARK = re.compile(r"^\s*<!--\s*example:\s*(?P<mark>.*?)\s*-->\s*$")
_PAGE_MARK = re.compile(r"<!--\s*examples:\s*(?P<services>.*?)\s*-->")


class ExampleError(AssertionError):
    """A page whose examples cannot be read, or one that did not do what the page says."""


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    language: str
    text: str
    mark: str | None = None

    @property
    def where(self) -> str:
        return f"{self.page.name}:{self.line}"

    @property
    def needs(self) -> str | None:
        if self.mark and self.mark.startswith("needs "):
            return self.mark.removeprefix("needs ")
        return None

    def runs(self, provides: Collection[str] = ()) -> bool:
        """Whether the block is run where `provides` (e.g. "slurm") is at hand."""
        return self.language in RUN and (self.needs is None or self.needs in provides)


@dataclass
class Page:
    path: Path
    blocks: list[Block] = field(default_factory=list)
    services: tuple[str, ...] = ()

    def runnable(self, provides: Collection[str] = ()) -> list[Block]:
        return [b for b in self.blocks if b.runs(provides)]


def guide_pages(guide: Path = GUIDE) -> list[Path]:
    return sorted(guide.rglob("*.md"))


def read_page(path: Path) -> Page:
    """The page's fenced blocks with their marks; an unknown mark or language is an ExampleError."""
    lines = path.read_text(encoding="utf-8").splitlines()
    page = Page(path)
    for found in _PAGE_MARK.finditer("\n".join(lines)):
        services = tuple(found["services"].split())
        unknown = [s for s in services if s not in SERVICES]
        if unknown:
            raise ExampleError(f"{path.name}: unknown service {unknown} (known: {SERVICES})")
        page.services += services
    for number, line in enumerate(lines):
        following = lines[number + 1] if number + 1 < len(lines) else ""
        if _MARK.match(line) and not _FENCE.match(following):
            raise ExampleError(f"{path.name}:{number + 1}: a mark must be just above its block")
    i = 0
    while i < len(lines):
        opened = _FENCE.match(lines[i])
        if opened is None or not opened["info"].strip():
            if opened is not None:
                raise ExampleError(f"{path.name}:{i + 1}: a code block needs a language")
            i += 1
            continue
        indent, fence = len(opened["indent"]), opened["fence"]
        language = opened["info"].split()[0]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][indent:])
            j += 1
        mark = _MARK.match(lines[i - 1]) if i > 0 else None
        page.blocks.append(
            _checked(Block(path, i + 1, language, "\n".join(body) + "\n", mark and mark["mark"]))
        )
        i = j + 1
    return page


def _checked(block: Block) -> Block:
    if block.language not in RUN + NOT_RUN:
        raise ExampleError(
            f"{block.where}: language '{block.language}' is neither run {RUN} nor shown {NOT_RUN}"
        )
    mark = block.mark
    if mark is None:
        return block
    kind = mark.split()[0] if mark else ""
    if block.needs is not None and block.needs not in NEEDS:
        raise ExampleError(f"{block.where}: '{mark}': it may need one of {NEEDS}")
    if kind == "output" and block.language != "text":
        raise ExampleError(f"{block.where}: an output block is a `text` block")
    if kind == "file" and len(mark.split()) != 2:
        raise ExampleError(f"{block.where}: 'file' takes one path")
    if kind == "fails" and block.language != "sh":
        raise ExampleError(f"{block.where}: only `sh` blocks can be expected to fail")
    if kind not in ("needs", "fails", "file", "output"):
        raise ExampleError(f"{block.where}: unknown mark '{mark}'")
    return block


def _script(page: Page, scratch: Path, provides: Collection[str], prelude: str | None) -> str:
    """One bash script running the page's blocks in order, each block's output kept in a file.

    A prelude (the test's, not the page's) runs first, as block -1.
    """
    parts = ["set -euo pipefail"]
    if prelude is not None:
        (scratch / "prelude.sh").write_text(prelude)
        parts.append('echo -1 > "$DOC/current"')
        parts.append('source "$DOC/prelude.sh" > "$DOC/-1.out" 2>&1 < /dev/null')
    for number, block in enumerate(page.blocks):
        words = (block.mark or "").split()
        kind = words[0] if words else None
        if kind == "file":
            path = shlex.quote(words[1])
            (scratch / f"{number}.content").write_text(block.text)
            parts.append(f'mkdir -p "$(dirname {path})"; cp "$DOC/{number}.content" {path}')
            continue
        if not block.runs(provides):
            continue
        if block.language == "python":
            (scratch / f"{number}.py").write_text(block.text)
            (scratch / f"{number}.sh").write_text(f'python "$DOC/{number}.py"\n')
        else:
            (scratch / f"{number}.sh").write_text(block.text)
        parts.append(f'echo {number} > "$DOC/current"')
        run = f'source "$DOC/{number}.sh" > "$DOC/{number}.out" 2>&1 < /dev/null'
        if kind == "fails":
            parts.append(f"if ( {run} ); then exit {FAILS_SUCCEEDED}; fi")
        else:
            parts.append(run)
    parts.append('echo done > "$DOC/current"')
    return "\n".join(parts) + "\n"


def _environment(home: Path, scratch: Path) -> dict[str, str]:
    """A reader's shell: hipercow's commands first on PATH, a home and keyring of its own."""
    hidden = ("HIPERCOW_ROOT", "HIPERCOW_TRACEBACK", "VIRTUAL_ENV", "HIPERCOW_PROVISION_HISTORY")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    real_home = Path(os.environ.get("HOME", str(Path.home())))
    env.setdefault("UV_CACHE_DIR", str(real_home / ".cache" / "uv"))  # builds share the cache
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "HOME": str(home),
            "NO_COLOR": "1",
            "DOC": str(scratch),
            "PYTHON_KEYRING_BACKEND": "windows_hpc.keyring_backend.FileKeyring",
            "HIPERCOW_TEST_KEYRING": str(home / "keyring.json"),
            "PYTHONPATH": str(REPO / "tests"),
        }
    )
    return env


def run_page(
    page: Page,
    workdir: Path,
    extra_env: dict[str, str] | None = None,
    *,
    provides: Collection[str] = (),
    prelude: str | None = None,
) -> None:
    """Run the page's examples in `workdir`; an ExampleError says which block did what.

    The reader's directory is `workdir/my-project` (empty, no root); processes
    the examples leave (the local driver's) are the caller's to stop. Blocks
    marked as needing something in `provides` run too; `prelude`, shell lines
    run first in the reader's directory, sets up what only a test world needs
    (a stand-in portal's address, say), never what the page itself shows.
    """
    project, home, scratch = workdir / "my-project", workdir / "home", workdir / "blocks"
    for directory in (project, home, scratch):
        directory.mkdir(parents=True)
    script = scratch / "page.sh"
    script.write_text(_script(page, scratch, provides, prelude))
    env = {**_environment(home, scratch), **(extra_env or {})}
    done = subprocess.run(
        ["bash", str(script)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    current = (scratch / "current").read_text().strip() if (scratch / "current").exists() else ""
    if current == "-1" and done.returncode != 0:
        raise ExampleError(f"the test's prelude exited {done.returncode}:\n{_output(scratch, -1)}")
    if done.returncode != 0 or current != "done":
        number = int(current) if current.isdigit() else 0
        block = page.blocks[number]
        said = _output(scratch, number)
        if done.returncode == FAILS_SUCCEEDED:
            raise ExampleError(f"{block.where}: marked 'fails' but exited 0\n{said}")
        raise ExampleError(
            f"{block.where}: exited {done.returncode}\n--- the block:\n{block.text}"
            f"--- its output:\n{said}{done.stderr}"
        )
    _check_outputs(page, scratch, provides)


def _output(scratch: Path, number: int) -> str:
    path = scratch / f"{number}.out"
    return path.read_text(errors="replace") if path.exists() else ""


def _check_outputs(page: Page, scratch: Path, provides: Collection[str]) -> None:
    """Each `output` block's lines must be in what the code block before it printed.

    (When that block is not run here, its output is checked where it runs.)
    """
    last: int | None = None
    for number, block in enumerate(page.blocks):
        mark = block.mark or ""
        if block.language in RUN and not mark.startswith("file"):
            last = number
        if block.mark != "output":
            continue
        if last is None:
            raise ExampleError(f"{block.where}: an output block with no example before it")
        if not page.blocks[last].runs(provides):
            continue
        said = _output(scratch, last)
        for line in _lines(block.text):
            if line not in said:
                raise ExampleError(
                    f"{block.where}: '{line}' is not in what {page.blocks[last].where} printed:\n"
                    f"{said}"
                )


def _lines(text: str) -> Iterator[str]:
    for line in textwrap.dedent(text).splitlines():
        if line.strip():
            yield line.rstrip()
