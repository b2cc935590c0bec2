"""Options as typed on the command line are saved in an unambiguous form."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import pytest

from hipercow_core.drivers.registry import configure_driver, get_driver, parse_options
from hipercow_core.errors import InvalidInputError
from hipercow_core.root import Root
from hipercow_slurm.driver import SlurmDriver
from hipercow_slurm.options import SlurmOptions


def parse(**values: str) -> SlurmOptions:
    options = parse_options(SlurmDriver, dict(values))
    assert isinstance(options, SlurmOptions)
    return options


def test_defaults() -> None:
    options = parse()
    assert options.partition is None
    assert options.extra_args == []
    assert options.setup_lines == []
    assert options.runner_command == [sys.executable, "-m", "hipercow_core.run"]
    assert options.array_limit is None


def test_text_values_are_converted() -> None:
    options = parse(partition="main", account="acct", qos="normal", array_limit="50")
    assert (options.partition, options.account, options.qos) == ("main", "acct", "normal")
    assert options.array_limit == 50


def test_sbatch_args_split_like_a_shell_keeping_commas() -> None:
    options = parse(sbatch_args="--mail-type=END,FAIL --comment='two words'")
    assert options.extra_args == ["--mail-type=END,FAIL", "--comment=two words"]


def test_setup_lines_split_on_semicolons_and_newlines() -> None:
    options = parse(setup="module purge; module load Python/3.11\nexport X=1")
    assert options.setup_lines == ["module purge", "module load Python/3.11", "export X=1"]


def test_runner_can_be_replaced() -> None:
    options = parse(runner="/opt/venv/bin/hipercow-task-run")
    assert options.runner_command == ["/opt/venv/bin/hipercow-task-run"]


def test_empty_text_clears_an_option() -> None:
    options = parse(partition="", sbatch_args="")
    assert options.partition is None
    assert options.extra_args == []


@pytest.mark.parametrize(
    "values",
    [{"array_limit": "0"}, {"array_limit": "many"}, {"low_priority_nice": "-5"}, {"nope": "1"}],
)
def test_bad_values_name_the_options(values: dict[str, str]) -> None:
    with pytest.raises(InvalidInputError) as error:
        parse_options(SlurmDriver, values)
    assert "partition" in (error.value.hint or "")


def test_saved_form_reads_back_the_same(tmp_path: Path) -> None:
    root, _ = Root.init(tmp_path)
    configure_driver(root, "slurm", {"sbatch_args": "--constraint=a,b -J x", "setup": "a; b"})
    configure_driver(root, "slurm", {"partition": "short"})
    driver = get_driver(root, "slurm")
    assert isinstance(driver, SlurmDriver)
    assert driver.options.extra_args == ["--constraint=a,b", "-J", "x"]
    assert driver.options.setup_lines == ["a", "b"]
    assert driver.options.partition == "short"
    saved = msgspec.json.decode(root.config_path().read_bytes())
    assert saved["drivers"][0]["options"]["sbatch_args"] == ["--constraint=a,b", "-J", "x"]
