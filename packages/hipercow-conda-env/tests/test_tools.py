"""A site's micromamba, mamba or conda: the command lines we give them, and reading their failures.

None of these tools can be installed on this machine (see
shared/reference/conda-offline.md), so they are not run here. The command
lines are checked against the options the three tools document, and the
failure parsing against outputs the real tools printed, as users posted them
in public issue reports (cited at each), trimmed to the lines that matter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hipercow_conda_env.request import CondaLock, LockedPackage
from hipercow_conda_env.tools import (
    create_command,
    explicit_command,
    explicit_file,
    failure_reason,
    tool_environment,
    tool_kind,
)
from hipercow_core.errors import InvalidInputError

# micromamba 2.1.0, mamba-org/mamba issue 3784.
MICROMAMBA_MISSING = """\
conda-forge/linux-64                                        Using cache
conda-forge/noarch                                          Using cache
nodefaults/linux-64                                125.0 B @ 243.0 B/s  0.5s
nodefaults/noarch                                  116.0 B @ 205.0 B/s  0.5s

error    libmamba Could not solve for environment specs
    The following package could not be installed
    └─ pyhton =3.10 * does not exist (perhaps a typo or a missing channel).
critical libmamba Could not solve for environment specs
"""

# micromamba, mamba-org/mamba issue 3828: two requests that conflict.
MICROMAMBA_CONFLICT = """\
conda-forge/linux-64                                        Using cache
conda-forge/noarch                                          Using cache

error    libmamba Could not solve for environment specs
    The following packages are incompatible
    ├─ python =3.12 * is requested and can be installed;
    ├─ python [=3.12 *|=3.13 *] is not installable because it requires
    │  └─ _python_rc =* *, which does not exist (perhaps a missing channel);
    └─ python =3.13 * is not installable because it conflicts with any installable versions previously reported.
critical libmamba Could not solve for environment specs
"""

# conda 4.4, conda/conda issue 6837 (`conda create -p /tmp/foobar python=3.6`).
CONDA_MISSING = """\
Solving environment: failed

PackagesNotFoundError: The following packages are not available from current channels:

  - python=3.6

Current channels:

  - https://repo.continuum.io/pkgs/main/linux-64
  - https://repo.continuum.io/pkgs/main/noarch
"""

# mamba 0.x, geocompx/docker issue 29.
MAMBA_OLD = """\
Encountered problems while solving:
  - nothing provides requested quarto

The environment can't be solved, aborting the operation
error    libmamba Could not solve for environment specs
critical libmamba UnsatisfiableError
"""


def test_which_tool() -> None:
    assert tool_kind("/shared/bin/micromamba") == "micromamba"
    assert tool_kind("micromamba-1.5.8") == "micromamba"
    assert tool_kind("/opt/miniforge/bin/mamba") == "mamba"
    assert tool_kind("/opt/conda/bin/conda") == "conda"
    with pytest.raises(InvalidInputError, match="is not micromamba, mamba or conda"):
        tool_kind("/usr/bin/pixi")


def test_create_command_lines(tmp_path: Path) -> None:
    channels = ("conda-forge", "bioconda")
    prefix = tmp_path / "env"
    assert create_command("/shared/micromamba", prefix, channels, ["samtools=1.20", "bwa"]) == [
        "/shared/micromamba", "create", "--yes", "--prefix", str(prefix), "--no-rc",
        "--override-channels", "--strict-channel-priority",
        "--channel", "conda-forge", "--channel", "bioconda", "samtools=1.20", "bwa",
    ]  # fmt: skip
    # conda and mamba have no --no-rc: the rc file is replaced through CONDARC instead
    assert create_command("conda", prefix, channels, ["bwa"]) == [
        "conda", "create", "--yes", "--prefix", str(prefix),
        "--override-channels", "--strict-channel-priority",
        "--channel", "conda-forge", "--channel", "bioconda", "bwa",
    ]  # fmt: skip
    rc, pkgs = tmp_path / "condarc", Path("/tmp/hipercow-conda-alice")
    env = tool_environment(rc, pkgs)
    assert env["CONDARC"] == env["MAMBARC"] == str(rc)
    assert env["CONDA_PKGS_DIRS"] == str(pkgs)


def test_an_exact_rebuild_uses_an_explicit_file(tmp_path: Path) -> None:
    lock = CondaLock(
        platform="linux-64",
        channels=("https://conda.anaconda.org/bioconda",),
        packages=(
            LockedPackage(
                name="samtools",
                version="1.20",
                build="h50ea8bc_0",
                channel="https://conda.anaconda.org/bioconda",
                subdir="linux-64",
                url="https://conda.anaconda.org/bioconda/linux-64/samtools-1.20-h50ea8bc_0.tar.bz2",
                md5="0123456789abcdef0123456789abcdef",
            ),
        ),
    )
    text = explicit_file(lock)
    assert text.splitlines()[1:] == [
        "@EXPLICIT",
        "https://conda.anaconda.org/bioconda/linux-64/samtools-1.20-h50ea8bc_0.tar.bz2"
        "#0123456789abcdef0123456789abcdef",
    ]
    explicit = tmp_path / "explicit.txt"
    assert explicit_command("mamba", tmp_path / "env", explicit)[-2:] == ["--file", str(explicit)]


def test_reasons_read_from_real_failures() -> None:
    assert failure_reason(MICROMAMBA_MISSING) == (
        "Could not solve for environment specs: "
        "pyhton =3.10 * does not exist (perhaps a typo or a missing channel)."
    )
    conflict = failure_reason(MICROMAMBA_CONFLICT)
    assert conflict is not None
    assert conflict.startswith("Could not solve for environment specs: python =3.12 * is requested")
    assert "_python_rc" in conflict and len(conflict) <= 300
    assert failure_reason(CONDA_MISSING) == (
        "PackagesNotFoundError: The following packages are not available from current channels: "
        "python=3.6"
    )
    assert failure_reason(MAMBA_OLD) == "The environment can't be solved, aborting the operation"
    assert failure_reason("Downloading and Extracting Packages\nKilled\n") is None
