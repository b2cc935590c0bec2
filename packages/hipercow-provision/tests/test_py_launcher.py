"""The pip engine on Windows asks the `py` launcher for a Python version.

The launcher here is a stand-in script with py's interface (`py -X.Y ARGS`
runs that version with ARGS), since `py` exists only on Windows; it runs the
real interpreter of this test for the one version it "has".
"""

from __future__ import annotations

import sys
from pathlib import Path

from hipercow_provision.engines import launcher_python

VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


def make_launcher(tmp_path: Path) -> str:
    launcher = tmp_path / "py"
    launcher.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" != "-{VERSION}" ]; then echo "No suitable Python runtime found" >&2; exit 103; fi\n'
        f'shift\nexec "{sys.executable}" "$@"\n'
    )
    launcher.chmod(0o755)
    return str(launcher)


def test_the_launcher_names_the_interpreter_of_a_version(tmp_path: Path) -> None:
    assert launcher_python(make_launcher(tmp_path), VERSION) == sys.executable


def test_a_version_the_launcher_lacks_is_none(tmp_path: Path) -> None:
    assert launcher_python(make_launcher(tmp_path), "2.7") is None
    assert launcher_python(str(tmp_path / "missing"), VERSION) is None
