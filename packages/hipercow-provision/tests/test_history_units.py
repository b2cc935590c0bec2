"""Inputs, their hash, the history on disk, compare and select: no environments built here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hipercow_core.environments import build_key, platform_tag, venv_layout
from hipercow_core.errors import InvalidInputError
from hipercow_core.schema import PackageInfo, ProvisionAttempt, ProvisionInputs, ProvisionResult
from hipercow_provision import history as hist
from hipercow_provision.history import HistoryEntry, HistoryStore
from hipercow_provision.inputs import (
    describe,
    from_packages,
    inputs_hash,
    install_arguments,
    requirement_lines,
    select_inputs,
)
from hipercow_provision.render import comparison_lines, history_rows, table

NOW = datetime(2026, 3, 15, 14, 22, 33, 42_000, tzinfo=UTC)


def test_hash_ignores_order_comments_blank_lines_and_line_endings() -> None:
    a = ProvisionInputs(kind="requirements", content="six==1.16.0\r\n# a comment\n\nidna==3.7\n")
    b = ProvisionInputs(kind="requirements", content="idna==3.7  # pinned\nsix==1.16.0")
    c = from_packages(["six==1.16.0", "idna==3.7"])
    assert requirement_lines(a) == ["idna==3.7", "six==1.16.0"]
    assert inputs_hash("uv", a) == inputs_hash("uv", b) == inputs_hash("uv", c)
    assert inputs_hash("uv", a) != inputs_hash("pip", a)
    assert inputs_hash("uv", c) != inputs_hash("uv", from_packages(["six==1.16.0"]))


def test_select_inputs_defaults_and_exclusivity(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="nothing to install"):
        select_inputs(tmp_path)
    (tmp_path / "requirements.txt").write_text("six\n")
    assert select_inputs(tmp_path).kind == "requirements"
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "1"\ndependencies = ["idna==3.7"]\n'
    )
    chosen = select_inputs(tmp_path)
    assert (chosen.kind, chosen.packages, chosen.file) == (
        "pyproject",
        ("idna==3.7",),
        "pyproject.toml",
    )
    with pytest.raises(InvalidInputError, match="only one"):
        select_inputs(tmp_path, requirements=Path("requirements.txt"), packages=["six"])
    last = from_packages(["six"])
    assert select_inputs(tmp_path, last=last) == last
    (tmp_path / "bad.toml").write_text("[project]\nname = 'x'\n")
    with pytest.raises(InvalidInputError, match="no \\[project\\] dependencies"):
        select_inputs(tmp_path, pyproject=Path("bad.toml"))


def test_requirements_are_reread_for_the_same_source(tmp_path: Path) -> None:
    path = tmp_path / "reqs.txt"
    path.write_text("six\n")
    first = select_inputs(tmp_path, requirements=path)
    assert first.file == "reqs.txt"
    path.write_text("six\nidna\n")
    again = select_inputs(tmp_path, last=first)
    assert again.content == "six\nidna\n"
    assert describe(again) == "reqs.txt"


def test_included_requirements_are_read_from_the_including_files_place(tmp_path: Path) -> None:
    """`-r` and `-c` paths are relative to the file naming them, however deep, as pip reads them."""
    (tmp_path / "reqs" / "more").mkdir(parents=True)
    (tmp_path / "reqs" / "requirements.txt").write_text(
        "-r base.txt\n--constraint=more/pins.txt\n-r https://example.org/r.txt\n"
    )
    (tmp_path / "reqs" / "base.txt").write_text("six\n-rmore/extra.txt\n")
    (tmp_path / "reqs" / "more" / "extra.txt").write_text("idna\n")
    (tmp_path / "reqs" / "more" / "pins.txt").write_text("six==1.16.0\n")
    inputs = select_inputs(tmp_path, requirements=Path("reqs/requirements.txt"))
    assert [(i.file, i.included_from, i.as_written) for i in inputs.included] == [
        ("reqs/base.txt", "reqs/requirements.txt", "base.txt"),
        ("reqs/more/pins.txt", "reqs/requirements.txt", "more/pins.txt"),
        ("reqs/more/extra.txt", "reqs/base.txt", "more/extra.txt"),
    ]
    # installed from copies that name each other, not the attempt directory's neighbours
    workdir = tmp_path / "attempt"
    workdir.mkdir()
    assert install_arguments(inputs, workdir) == ["-r", str(workdir / "requirements.txt")]
    top = (workdir / "requirements.txt").read_text().splitlines()
    assert top == [
        "-r included/00-base.txt",
        "--constraint included/01-pins.txt",
        "-r https://example.org/r.txt",
    ]
    base = (workdir / "included" / "00-base.txt").read_text().splitlines()
    assert base == ["six", "-r 02-extra.txt"]
    assert (workdir / "included" / "02-extra.txt").read_text() == "idna\n"
    # a change in an included file is a change
    before = inputs_hash("uv", inputs)
    (tmp_path / "reqs" / "more" / "pins.txt").write_text("six==1.17.0\n")
    assert inputs_hash("uv", select_inputs(tmp_path, last=inputs)) != before


def test_a_missing_included_file_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n-c pins.txt\n")
    with pytest.raises(InvalidInputError, match=r"includes 'pins.txt' \(line 2\)"):
        select_inputs(tmp_path)


def _attempt(store: HistoryStore, when: datetime, packages: list[str], **kw: object) -> str:
    attempt_id = hist.new_attempt_id(when)
    inputs = from_packages(packages)
    store.write_attempt(
        ProvisionAttempt(
            id=attempt_id,
            engine="uv",
            inputs=inputs,
            inputs_hash=inputs_hash("uv", inputs),
            requested=when,
            host="here",
        )
    )
    if "status" in kw:
        store.write_result(
            ProvisionResult(
                attempt=attempt_id,
                status=kw["status"],  # type: ignore[arg-type]
                finished=when + timedelta(seconds=2),
                started=when,
                build="linux-x86_64-py3.11",
                packages=tuple(PackageInfo(*p.split("==")) for p in packages if "==" in p),
            )
        )
    return attempt_id


def test_history_compare_select_and_check(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "history")
    first = _attempt(store, NOW, ["six==1.16.0"], status="success")
    second = _attempt(
        store, NOW + timedelta(seconds=1), ["six==1.16.0", "idna==3.6"], status="success"
    )
    third = _attempt(
        store, NOW + timedelta(seconds=2), ["six==1.17.0", "idna==3.6"], status="failure"
    )
    entries = hist.read_history(store, hist.standalone_reconciler(store))
    assert [e.id for e in entries] == [first, second, third]
    assert [e.number for e in entries] == [1, 2, 3]
    assert hist.select(entries, "-1").id == third
    assert hist.select(entries, "latest").id == third
    assert hist.select(entries, "2").id == second
    assert hist.select(entries, third[:-2]).id == third
    with pytest.raises(InvalidInputError, match="no attempt number 9"):
        hist.select(entries, "9")

    latest = hist.compare_selected(entries)
    assert (latest.a, latest.b) == (second, third)
    assert [(c.name, c.change) for c in latest.changes] == [
        ("idna", "unchanged"),
        ("six", "updated"),
    ]
    added = hist.compare_selected(entries, "1", "2")
    assert [c.name for c in added.of_kind("added")] == ["idna"]
    lines = comparison_lines(added)
    assert "+ idna 3.6" in lines and not any(line.startswith("=") for line in lines)
    assert "= six 1.16.0" in comparison_lines(added, show_unchanged=True)

    # check compares with the last *successful* attempt, not the failed one
    same = hist.check(entries, "uv", from_packages(["idna==3.6", "six==1.16.0"]))
    assert (same.changed, same.last) == (False, second)
    assert hist.check(entries, "uv", from_packages(["six==1.17.0"])).changed

    header, *rows = history_rows(entries)
    assert header[0] == "#" and rows[2][2] == "failure"
    assert table(("a", "bb"), ("ccc", "d")) == "a    bb\nccc  d\n"


def test_an_attempt_whose_build_died_is_recorded_as_failed(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "history")
    attempt_id = _attempt(store, NOW, ["six"])
    [entry] = hist.read_history(store, hist.standalone_reconciler(store))
    assert entry.status == "failure"
    assert entry.result is not None and "without recording an outcome" in (entry.result.error or "")
    assert store.read_result(attempt_id) == entry.result  # written once, for every later reader


def test_claims_are_exclusive_and_released_only_by_their_holder(tmp_path: Path) -> None:
    from hipercow_core.schema import ProvisionRunning

    store = HistoryStore(tmp_path / "history")
    mine = ProvisionRunning(attempt="a", started=NOW, host="h", pid=1)
    assert store.claim(mine)
    assert not store.claim(ProvisionRunning(attempt="b", started=NOW, host="h", pid=2))
    store.release("b")
    assert store.read_running() == mine
    store.release("a")
    assert store.read_running() is None


def test_attempt_ids_sort_by_time_and_are_validated() -> None:
    early = hist.new_attempt_id(NOW)
    later = hist.new_attempt_id(NOW + timedelta(milliseconds=1))
    assert early.startswith("20260315-142233-042-") and early < later
    with pytest.raises(InvalidInputError):
        hist.validate_attempt_id("../../etc")


def test_platform_layout_is_kept_in_one_place() -> None:
    assert venv_layout("win32-amd64").interpreter == "Scripts/python.exe"
    assert venv_layout("linux-x86_64").path == ("bin",)
    assert build_key("linux-x86_64", "3.11.7") == "linux-x86_64-py3.11"
    assert platform_tag("win32", "AMD64") == "win32-amd64"


def test_history_entries_encode_to_json() -> None:
    import msgspec

    attempt = ProvisionAttempt(
        id=hist.new_attempt_id(NOW),
        engine="uv",
        inputs=from_packages(["six"]),
        inputs_hash="x",
        requested=NOW,
        host="h",
    )
    decoded = msgspec.json.decode(msgspec.json.encode(HistoryEntry(1, attempt, "queued")))
    assert decoded["status"] == "queued" and decoded["attempt"]["inputs"]["packages"] == ["six"]
