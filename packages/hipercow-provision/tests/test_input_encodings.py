"""Requirements files as Windows tools write them: UTF-16 from PowerShell, a UTF-8 BOM."""

from __future__ import annotations

from pathlib import Path

import pytest

from hipercow_core.errors import InvalidInputError
from hipercow_provision.inputs import from_requirements

FROZEN = "numpy==2.1.0\nrequests==2.32.3  # café\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig", "utf-8"])
def test_requirements_are_read_in_the_encodings_windows_writes(
    tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "requirements.txt"
    text = FROZEN.replace("\n", "\r\n")
    raw = text.encode(encoding)
    if encoding == "utf-16-be":
        raw = b"\xfe\xff" + raw
    path.write_bytes(raw)
    inputs = from_requirements(path, tmp_path)
    assert inputs.content is not None
    assert inputs.content.splitlines() == FROZEN.splitlines()


def test_text_in_another_encoding_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_bytes("requests  # café\n".encode("cp1252"))
    with pytest.raises(InvalidInputError) as caught:
        from_requirements(path, tmp_path)
    assert "is not UTF-8 (or UTF-16) text" in caught.value.message
    assert "Save it as UTF-8" in str(caught.value.hint)
