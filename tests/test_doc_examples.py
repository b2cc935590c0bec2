"""Every example in the guide does what it says, and a broken one fails.

Each guide page is one test: its `sh` and `python` blocks run in order, in a
fresh directory against the local driver (tests/doc_examples.py says how, and
how a block is marked as needing a cluster instead). The last tests break a
copy of a page on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from doc_examples import GUIDE, NEEDS, ExampleError, guide_pages, read_page, run_page
from hipercow_testing import kill_processes_under


@pytest.fixture
def services(tmp_path: Path) -> Iterator[dict[str, dict[str, str]]]:
    """Services a page asks for, started on demand: name -> the variables it gives the page."""
    from redis_testing import RedisServer

    started: list[RedisServer] = []

    class Lazy(dict[str, dict[str, str]]):
        def __missing__(self, name: str) -> dict[str, str]:
            assert name == "redis", name
            server = RedisServer(tmp_path / "redis")
            started.append(server)
            self[name] = {"REDIS_URL": server.url}
            return self[name]

    yield Lazy()
    for server in started:
        server.stop()


@pytest.mark.parametrize("path", guide_pages(), ids=lambda p: str(p.relative_to(GUIDE)))
def test_guide_examples(path: Path, tmp_path: Path, services: dict[str, dict[str, str]]) -> None:
    page = read_page(path)
    env: dict[str, str] = {}
    for service in page.services:
        env.update(services[service])
    try:
        run_page(page, tmp_path / "run", env)
    finally:
        kill_processes_under(tmp_path / "run")


def test_what_the_guide_does_not_run_here_is_marked() -> None:
    """Blocks not run are only those marked as needing something the tests do not have."""
    skipped = [b for p in guide_pages() for b in read_page(p).blocks if b.needs is not None]
    assert {b.needs for b in skipped} <= set(NEEDS)
    assert {b.page.name for b in skipped if b.needs == "slurm"} == {"slurm.md"}
    assert {b.page.name for b in skipped if b.needs == "windows-hpc"} == {"windows-hpc.md"}


def _copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of a guide page with one piece of text changed."""
    text = (GUIDE / name).read_text()
    assert old in text
    copy = tmp_path / "guide" / name
    copy.parent.mkdir(parents=True)
    copy.write_text(text.replace(old, new, 1))
    return copy


def test_a_broken_example_fails(tmp_path: Path) -> None:
    broken = _copy(tmp_path, "tasks.md", 'hipercow task status "$id"', 'hipercow task statuz "$id"')
    try:
        with pytest.raises(ExampleError, match=r"tasks\.md:\d+: exited 2") as raised:
            run_page(read_page(broken), tmp_path / "run")
    finally:
        kill_processes_under(tmp_path / "run")
    assert "No such command 'statuz'" in str(raised.value)  # what the reader would see


def test_an_output_that_changed_fails(tmp_path: Path) -> None:
    broken = _copy(tmp_path, "getting-started.md", "The answer is 42", "The answer is 43")
    try:
        with pytest.raises(ExampleError, match="'The answer is 43' is not in what"):
            run_page(read_page(broken), tmp_path / "run")
    finally:
        kill_processes_under(tmp_path / "run")


def test_an_error_that_went_away_fails(tmp_path: Path) -> None:
    broken = _copy(
        tmp_path, "troubleshooting.md", "hipercow task status 1234", "hipercow --version"
    )
    try:
        with pytest.raises(ExampleError, match="marked 'fails' but exited 0"):
            run_page(read_page(broken), tmp_path / "run")
    finally:
        kill_processes_under(tmp_path / "run")


def test_a_mistyped_mark_is_refused(tmp_path: Path) -> None:
    broken = _copy(tmp_path, "drivers/slurm.md", "needs slurm", "needs slrum")
    with pytest.raises(ExampleError, match="'needs slrum': it may need one of"):
        read_page(broken)
    astray = _copy(
        tmp_path / "astray", "tasks.md", "<!-- example: fails -->\n", "<!-- example: fails -->\n\n"
    )
    with pytest.raises(ExampleError, match=r"tasks\.md:\d+: a mark must be just above its block"):
        read_page(astray)
