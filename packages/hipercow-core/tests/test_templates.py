"""The one renderer of batch scripts: every placeholder filled, none left to chance."""

from __future__ import annotations

from pathlib import Path

import pytest

from hipercow_core import templates


def test_every_placeholder_is_filled_once_and_values_are_not_expanded_again() -> None:
    text = templates.render("a {{ x }} b {{y}} {{x}}", {"x": "{{y}}", "y": "2"})
    assert text == "a {{y}} b 2 {{y}}"


def test_a_missing_value_is_an_error_naming_it() -> None:
    with pytest.raises(templates.TemplateError, match="y, z"):
        templates.render("{{x}} {{y}} {{z}}", {"x": "1"})


def test_shell_and_batch_syntax_pass_through() -> None:
    text = "echo ${task_ids[${SLURM_ARRAY_TASK_ID:-0}]} %ERRORLEVEL% {{n}}"
    assert templates.render(text, {"n": "1"}) == (
        "echo ${task_ids[${SLURM_ARRAY_TASK_ID:-0}]} %ERRORLEVEL% 1"
    )


def test_crlf_templates_render_with_lf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkout that turned a script's endings into CRLF must still render a working script."""
    package = tmp_path / "crlf_templates"
    (package / "templates").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "templates" / "job.sh").write_bytes(b"#!/bin/bash\r\necho {{x}}\r\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    text = templates.render(templates.load("crlf_templates", "job.sh"), {"x": "hi"})
    assert text == "#!/bin/bash\necho hi\n"
