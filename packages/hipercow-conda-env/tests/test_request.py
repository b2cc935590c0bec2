"""Reading what a conda attempt asks for: channels, specs, environment.yml, locks."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from hipercow_conda_env.request import (
    CondaLock,
    normalise_channel,
    read_request,
    settle_inputs,
    spec_name,
)
from hipercow_core.errors import InvalidInputError
from hipercow_core.schema import ProvisionInputs

YML = """\
name: aligners
channels:
  - conda-forge
  - bioconda
  - nodefaults
dependencies:
  - samtools=1.20
  - bwa
  - python=3.12
  - pip:
    - six==1.16.0
"""


def test_channels(tmp_path: Path) -> None:
    assert normalise_channel("bioconda") == "bioconda"
    assert normalise_channel("conda-forge/label/main") == "conda-forge/label/main"
    assert normalise_channel("https://mirror.example/conda-forge/") == (
        "https://mirror.example/conda-forge"
    )
    assert normalise_channel(str(tmp_path)) == tmp_path.as_uri()
    with pytest.raises(InvalidInputError, match="is not a conda channel"):
        normalise_channel("two words")


def test_spec_names() -> None:
    assert [spec_name(s) for s in ("samtools=1.20", "bioconda::bwa >=0.7", "Python")] == [
        "samtools",
        "bwa",
        "python",
    ]


def test_environment_yml_channels_come_after_those_given() -> None:
    inputs = ProvisionInputs(kind="environment", file="environment.yml", content=YML)
    settled = settle_inputs(inputs, (), ("ignored-default",))
    assert settled.channels == ("conda-forge", "bioconda")  # nodefaults dropped
    request = read_request(settled)
    assert request.specs == ("samtools=1.20", "bwa", "python=3.12")
    assert request.pip == ("six==1.16.0",)
    assert settle_inputs(inputs, ("my-mirror",), ()).channels == ("my-mirror",)
    packages = ProvisionInputs(kind="packages", packages=("bwa",))
    assert settle_inputs(packages, (), ("bioconda",)).channels == ("bioconda",)
    assert settle_inputs(packages, (), ()).channels == ("conda-forge",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dependencies:\n  - bwa\n  - pip:\n    - six\n", "pip: section but no python"),
        ("channels: [x]\n", "lists no conda dependencies"),
        ("dependencies: [bwa, {conda: x}]\n", "at most a 'pip:' list"),
        ("dependencies: [bwa\n", "is not valid YAML"),
        ("- just a list\n", "is not an environment file"),
    ],
)
def test_environment_yml_mistakes(text: str, message: str) -> None:
    inputs = ProvisionInputs(kind="environment", file="env.yml", content=text)
    with pytest.raises(InvalidInputError, match=message):
        settle_inputs(inputs, (), ())


def test_a_lock_keeps_its_own_channels() -> None:
    lock = CondaLock(platform="linux-64", channels=("file:///srv/mirror",), packages=())
    inputs = ProvisionInputs(kind="lock", file="id", content=msgspec.json.encode(lock).decode())
    assert read_request(settle_inputs(inputs, (), ("other",))).channels == ("file:///srv/mirror",)
    broken = ProvisionInputs(kind="lock", file="id", content="{")
    with pytest.raises(InvalidInputError, match="is not readable"):
        read_request(broken)
