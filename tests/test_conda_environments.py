"""Conda environments end to end through `hipercow`, on the local driver, solved by py-rattler.

Packages come from a real local channel made by tools/conda-channel (a
stand-in aligner reading FASTA and the library it sources, a noarch Python
package, a package with an activation script, and a `python` made from this
machine's interpreter); the `pip:` part of an environment.yml comes from the
package index, installed with uv.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

from hipercow_core.root import Root
from hipercow_testing import BIN, Cli, conda_history, conda_packages, write_fasta


def test_conda_environment_tools_python_and_activation(
    cli: Cli, project: Root, conda_channel: str
) -> None:
    cli("environment", "new", "bio", "--engine", "conda", "--channel", conda_channel)
    done = cli(
        "environment", "provision", "bio", "mini-align=1.0", "seqnames", "python", "refgenome"
    )
    assert "Provisioned 'bio'" in done.stdout and "solving mini-align=1.0" in done.stdout
    [entry] = conda_history(cli, "bio")
    assert conda_packages(entry) == {
        "libfasta": ("1.0", "hlocal_0"),
        "mini-align": ("1.0", "hlocal_0"),
        "python": (entry["result"]["packages"][2]["version"], "hlocal_0"),
        "refgenome": ("2.0", "hlocal_0"),
        "seqnames": ("0.2", "pyhlocal_0"),
    }
    channels = {p["source"] for p in entry["result"]["packages"]}
    assert channels == {conda_channel}
    assert all(len(p["sha256"]) == 64 for p in entry["result"]["packages"])

    # the tool runs from the prefix's bin, CONDA_PREFIX is set, activate.d scripts applied
    write_fasta(project.project)
    script = (
        "mini-align --version && mini-align ref.fa reads.fa && "
        'echo "prefix=$CONDA_PREFIX" && echo "ref=$REFGENOME_DATA $REFGENOME_VERSION"'
    )
    task_id = cli("task", "create", "--environment", "bio", "--wait", "--", "sh", "-c", script)
    log = cli("task", "log", task_id.stdout.strip()).stdout.splitlines()
    prefix = project.path / "environments" / "bio" / "builds"
    assert log[0] == "mini-align 1.0 (libfasta 1.0)"
    assert log[1:3] == ["r1\tchr1\t7", "r2\t*\t0"]
    assert log[3].startswith(f"prefix={prefix}/")
    built = log[3].removeprefix("prefix=")
    assert log[4] == f"ref={built}/share/refgenome 2.0"

    # a Python task uses the environment's own interpreter and imports the noarch package
    code = "import seqnames, sys; (seqnames.__version__, sys.prefix, seqnames.names('ref.fa'))"
    task_id = cli("task", "create", "--environment", "bio", "--python", code, "--wait")
    version, sys_prefix, names = json.loads(
        cli("task", "result", task_id.stdout.strip(), "--json").stdout
    )
    assert (version, sys_prefix, names) == ("0.2", built, ["chr1", "chr2"])


def test_compare_failure_and_rebuild_from_an_attempt(
    cli: Cli, project: Root, conda_channel: str
) -> None:
    cli("environment", "new", "bio", "--engine", "conda", "--channel", conda_channel)
    cli("environment", "provision", "bio", "mini-align=1.0", "refgenome=1.0")
    cli("environment", "provision", "bio", "mini-align=2.0", "refgenome=1.0")
    comparison = json.loads(cli("environment", "compare", "bio", "--json").stdout)
    changed = {c["name"]: c for c in comparison["changes"] if c["change"] != "unchanged"}
    assert set(changed) == {"mini-align", "libfasta"}  # the dependency moved too
    assert (changed["libfasta"]["old"]["version"], changed["libfasta"]["new"]["version"]) == (
        "1.0",
        "1.1",
    )
    shown = cli("environment", "compare", "bio").stdout
    assert "mini-align" in shown and "1.0" in shown and "2.0" in shown
    assert "1 unchanged" in shown

    # check compares the specs (and channels) with the last success's
    assert cli("environment", "check", "bio", "mini-align=2.0", "refgenome=1.0").code == 0
    assert cli("environment", "check", "bio", "mini-align=2.0", check=False).code == 1

    # unsatisfiable: recorded as failed, the solver's message in its log, two lines on screen
    failed = cli("environment", "provision", "bio", "mini-align=2.0", "libfasta=1.0", check=False)
    assert failed.code == 1
    lines = [line for line in failed.stderr.splitlines() if line.startswith(("Error", "  "))]
    assert len(lines) == 2 and "cannot be satisfied" in lines[0] and "libfasta" in lines[0]
    assert "Traceback" not in failed.output
    assert [e["status"] for e in conda_history(cli, "bio")] == ["success", "success", "failure"]
    log = cli("environment", "log", "bio", "3").stdout
    assert "would require" in log and "libfasta >=1.1" in log

    # --from-attempt 1 gives exactly the first attempt's set back
    cli("environment", "provision", "bio", "--from-attempt", "1")
    entries = conda_history(cli, "bio")
    assert conda_packages(entries[3]) == conda_packages(entries[0])
    assert [p["sha256"] for p in entries[3]["result"]["packages"]] == [
        p["sha256"] for p in entries[0]["result"]["packages"]
    ]
    assert "lock of" in cli("environment", "history", "bio").stdout
    assert (
        cli("environment", "compare", "bio", "1", "4")
        .stdout.strip()
        .endswith("No changes (0 added, 0 removed, 0 updated, 3 unchanged)")
    )
    task_id = cli(
        "task", "create", "--environment", "bio", "--wait", "--", "mini-align", "--version"
    )
    assert (
        cli("task", "log", task_id.stdout.strip()).stdout.strip() == "mini-align 1.0 (libfasta 1.0)"
    )
    not_ok = cli("environment", "provision", "bio", "--from-attempt", "3", check=False)
    assert not_ok.code == 1 and "did not succeed" in not_ok.stderr


def test_environment_yml_with_pip_section(cli: Cli, project: Root, conda_channel: str) -> None:
    (project.project / "environment.yml").write_text(
        textwrap.dedent(
            f"""
            name: ignored
            channels:
              - {conda_channel}
              - nodefaults
            dependencies:
              - python
              - seqnames=0.1
              - pip:
                - six==1.16.0
            """
        )
    )
    cli("environment", "new", "mixed", "--engine", "conda")
    done = cli("environment", "provision", "mixed", "--file", "environment.yml", timeout=300)
    assert "installing the pip: section with uv" in done.stdout
    [entry] = conda_history(cli, "mixed")
    packages = {p["name"]: p for p in entry["result"]["packages"]}
    assert packages["six"]["version"] == "1.16.0" and packages["six"]["source"] == "index"
    assert packages["seqnames"]["version"] == "0.1" and packages["seqnames"]["build"]
    code = "import six, seqnames, sys; (six.__version__, seqnames.__version__, sys.prefix)"
    task_id = cli("task", "create", "--environment", "mixed", "--python", code, "--wait")
    six, seqnames, prefix = json.loads(
        cli("task", "result", task_id.stdout.strip(), "--json").stdout
    )
    assert (six, seqnames) == ("1.16.0", "0.1") and "/environments/mixed/builds/" in prefix
    # the file is read afresh, and check compares it as it is now
    assert cli("environment", "check", "mixed").code == 0
    text = (project.project / "environment.yml").read_text().replace("seqnames=0.1", "seqnames")
    (project.project / "environment.yml").write_text(text)
    assert cli("environment", "check", "mixed", check=False).code == 1


def test_conda_input_mistakes(cli: Cli, project: Root, conda_channel: str, tmp_path: Path) -> None:
    cli("environment", "new", "bio", "--engine", "conda", "--channel", conda_channel)
    no_python = tmp_path / "env.yml"
    no_python.write_text("dependencies:\n  - mini-align\n  - pip:\n    - six\n")
    refused = cli("environment", "provision", "bio", "--file", str(no_python), check=False)
    assert refused.code == 1 and "pip: section but no python" in refused.stderr
    assert "Add 'python' to the dependencies" in refused.stderr
    assert conda_history(cli, "bio") == []  # refused before any job
    # a spec the solver cannot read: the attempt fails saying why, in two lines
    bad_spec = cli("environment", "provision", "bio", "mini align!!", check=False)
    assert bad_spec.code == 1 and "the build string '!!' is not valid" in bad_spec.stderr
    assert "Traceback" not in refused.output + bad_spec.output
    assert [e["status"] for e in conda_history(cli, "bio")] == ["failure"]
    gone = cli("environment", "provision", "bio", "-c", str(tmp_path / "gone"), "bwa", check=False)
    assert gone.code == 1 and "a conda channel could not be read" in gone.stderr
    cli("environment", "new", "venv")
    not_conda = cli("environment", "provision", "venv", "-c", "conda-forge", "six", check=False)
    assert not_conda.code == 1 and "for conda environments" in not_conda.stderr
    wrong = cli("environment", "new", "x", "--channel", "conda-forge", check=False)
    assert wrong.code == 1 and "--engine conda" in wrong.stderr
    # a task in a conda environment without Python runs Python tasks with hipercow's own
    cli("environment", "provision", "bio", "mini-align")
    task_id = cli(
        "task",
        "create",
        "--environment",
        "bio",
        "--python",
        "import os; os.environ['PATH']",
        "--wait",
    )
    path = json.loads(cli("task", "result", task_id.stdout.strip(), "--json").stdout)
    first = path.split(":")[0]
    assert "/environments/bio/builds/" in first and first.endswith("/bin")


def test_standalone_hipercow_provision_builds_a_conda_prefix(
    tmp_path: Path, conda_channel: str
) -> None:
    """`hipercow-provision run --engine conda`: no root, the same history."""
    command = [str(BIN / "hipercow-provision"), "run", "env", "--history", "h", "--engine", "conda"]
    done = subprocess.run(
        [*command, "-c", conda_channel, "mini-align=1.0", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "2 packages" in done.stdout
    version = subprocess.run(
        [str(tmp_path / "env" / "bin" / "mini-align"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == "mini-align 1.0 (libfasta 1.0)"
    assert (tmp_path / "env" / "conda-meta").is_dir()
    wrong = subprocess.run(
        [str(BIN / "hipercow-provision"), "run", "venv", "--history", "h2", "-c", "x", "six"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert wrong.returncode == 1 and "are for the conda engine" in wrong.stderr


def test_compare_shows_a_rebuild_from_another_channel(
    cli: Cli, project: Root, conda_channel: str, tmp_path: Path
) -> None:
    """A mirror with a rebuilt libfasta put first: same version, new build, new channel."""
    from conda_channel import Package, build_channel, libfasta

    rebuilt = libfasta("1.1")
    mirror = build_channel(
        tmp_path / "mirror",
        [Package(rebuilt.name, rebuilt.version, rebuilt.files, build_number=1)],
    )
    cli("environment", "new", "bio", "--engine", "conda", "--channel", conda_channel)
    cli("environment", "provision", "bio", "mini-align=2.0")
    cli("environment", "provision", "bio", "-c", mirror, "-c", conda_channel, "mini-align=2.0")
    comparison = json.loads(cli("environment", "compare", "bio", "--json").stdout)
    [change] = [c for c in comparison["changes"] if c["change"] != "unchanged"]
    assert change["name"] == "libfasta" and change["change"] == "updated"
    assert (change["old"]["build"], change["new"]["build"]) == ("hlocal_0", "hlocal_1")
    assert (change["old"]["source"], change["new"]["source"]) == (conda_channel, mirror)
    shown = cli("environment", "compare", "bio").stdout
    assert f"1.1 hlocal_0 ({conda_channel})" in shown and f"1.1 hlocal_1 ({mirror})" in shown
    # the channels are part of the inputs: check sees them
    assert cli("environment", "check", "bio", "mini-align=2.0", check=False).code == 1
    same = cli("environment", "check", "bio", "-c", mirror, "-c", conda_channel, "mini-align=2.0")
    assert same.code == 0
