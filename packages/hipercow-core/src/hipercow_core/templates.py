"""Rendering the batch scripts that schedulers run, from template files shipped with a package.

Scripts live as files (`templates/` of the package that owns them), so they
can be read and changed as shell or batch. Every template uses one
placeholder syntax, `{{name}}`, which neither the shell (`${...}`) nor cmd
(`%...%`) uses, and a placeholder without a value is an error rather than
an empty string. Line endings are normalised when a template is read, so a
checkout that turned a script's endings into CRLF still renders an LF shell
script; the caller chooses the endings of what it writes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class TemplateError(KeyError):
    """A template asked for values that were not given: a bug in the code rendering it."""


@cache
def load(package: str, name: str) -> str:
    """A template's text from `package`'s `templates/` directory, with LF line endings."""
    text = resources.files(package).joinpath("templates", name).read_text(encoding="utf-8")
    return text.replace("\r\n", "\n")


def placeholders(template: str) -> set[str]:
    return {m[1] for m in _PLACEHOLDER.finditer(template)}


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill every `{{name}}` with its value; raises TemplateError naming any that are missing."""
    missing = sorted(placeholders(template) - set(values))
    if missing:
        raise TemplateError(f"template values missing: {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m[1]], template)
