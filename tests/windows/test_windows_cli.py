"""hipercow on Windows, end to end: the CLI and the local driver run by Windows CPython.

Every command here is `hipercow` as a Windows user runs it (tools/windows-python
provides the interpreter; Wine runs it). Tasks are Windows programs: the same
python.exe, or Wine's cmd.exe. The console is cp1252, as on a default Windows
install, and output goes to pipes unless a test redirects it to a file.
"""

from __future__ import annotations

import json
from pathlib import Path

from windows.wine import Result, WinCli, WinPython

from hipercow_testing import wait_until


def create(hipercow: WinCli, *args: str) -> str:
    return hipercow("task", "create", *args).stdout.strip()


def status(hipercow: WinCli, task_id: str) -> str:
    return hipercow("task", "status", task_id).stdout.strip()


def finished(hipercow: WinCli, task_id: str) -> Result:
    return hipercow("task", "wait", task_id, "--timeout", "60", check=False)


def windows_alive(winpy: WinPython, cwd: Path, pids: list[int]) -> list[bool]:
    """Which of these Windows pids are running (Wine's pids are not Linux's)."""
    code = "import psutil, sys; print(*[psutil.pid_exists(int(p)) for p in sys.argv[1:]])"
    done = winpy.run("-c", code, *map(str, pids), cwd=cwd)
    return [word == "True" for word in done.stdout.split()]


def test_init_and_create_print_to_a_pipe_on_a_cp1252_console(
    winpy: WinPython, project: Path
) -> None:
    """Defect 1: `✔` on a cp1252 pipe made every reporting command exit 70 after its work."""
    hipercow = WinCli(winpy, project)
    done = hipercow("init", check=False, piped=True)
    assert done.code == 0, done.output
    assert "Initialised" in done.stdout or "root" in done.stdout.lower()
    assert "bug in hipercow" not in done.output


def test_output_redirected_to_a_file_by_windows(
    winpy: WinPython, hipercow: WinCli, project: Path
) -> None:
    """Defect 1: `hipercow ... > out.txt` from cmd.exe; the file holds the plain text."""
    task_id = create(hipercow, "--", "python", "-c", "print('caf\\u00e9 \\u2713')")
    assert finished(hipercow, task_id).code == 0
    script = (
        "import subprocess, sys\n"
        "with open('out.txt', 'wb') as out:\n"
        "    code = subprocess.call([sys.executable, sys.argv[1], 'task', 'log', sys.argv[2]],"
        " stdout=out, stderr=subprocess.STDOUT)\n"
        "print(code)\n"
    )
    from windows.wine import LAUNCHER

    done = winpy.run("-c", script, str(LAUNCHER), task_id, cwd=project)
    assert done.stdout.strip() == "0", (project / "out.txt").read_bytes()
    assert "café" in (project / "out.txt").read_bytes().decode("utf-8", errors="replace")


def test_a_task_prints_utf8_into_its_log(hipercow: WinCli) -> None:
    """Defect 2: a task's own `print('✓')` into its log file failed on cp1252."""
    task_id = create(hipercow, "--", "python", "-c", "print('caf\\u00e9 \\u2713')")
    assert finished(hipercow, task_id).code == 0, hipercow("task", "log", task_id).output
    assert hipercow("task", "log", task_id).stdout == "café ✓\n"


def test_a_task_keeps_the_encoding_its_user_set(hipercow: WinCli) -> None:
    """Defect 2: UTF-8 is the default, not an override of the user's PYTHONUTF8=0."""
    code = "import sys; print(sys.flags.utf8_mode)"
    ours = create(hipercow, "--", "python", "-c", code)
    theirs = create(hipercow, "--env", "PYTHONUTF8=0", "--", "python", "-c", code)
    assert finished(hipercow, ours).code == 0 and finished(hipercow, theirs).code == 0
    assert hipercow("task", "log", ours).stdout.strip() == "1"
    assert hipercow("task", "log", theirs).stdout.strip() == "0"


def test_python_task_text_is_read_as_utf8(hipercow: WinCli) -> None:
    """Defect 2: `pyexec` read the task as cp1252: 'café' ran as 'cafÃ©'."""
    task_id = create(hipercow, "--python", "'café' + ' ✓'")
    assert finished(hipercow, task_id).code == 0, hipercow("task", "log", task_id).output
    assert json.loads(hipercow("task", "result", task_id, "--json").stdout) == "café ✓"


def test_exit_codes_and_the_log_of_a_failing_task(hipercow: WinCli) -> None:
    task_id = create(
        hipercow, "--", "python", "-c", "import sys; print('oops', file=sys.stderr); sys.exit(3)"
    )
    waited = finished(hipercow, task_id)
    assert waited.code == 1 and "failure" in waited.stderr
    assert status(hipercow, task_id) == "failure"
    assert json.loads(hipercow("task", "info", task_id, "--json").stdout)["exit_code"] == 3
    assert (
        hipercow("task", "log", task_id).stdout == "oops\n"
    )  # CRLF in the file, as Windows writes


def test_a_cmd_builtin_is_not_reported_as_missing(hipercow: WinCli) -> None:
    """Defect 11: `dir`, `echo` are cmd.exe built-ins, not programs: run them through cmd."""
    task_id = create(hipercow, "--", "echo", "hello")
    waited = finished(hipercow, task_id)
    log = hipercow("task", "log", task_id).stdout
    assert waited.code == 0, log
    assert log.strip() == "hello"


def test_a_program_that_does_not_exist_says_so(hipercow: WinCli) -> None:
    task_id = create(hipercow, "--", "no-such-program-here")
    assert finished(hipercow, task_id).code == 1
    assert "not found" in hipercow("task", "info", task_id).stdout


def test_environment_and_working_directory(hipercow: WinCli, project: Path) -> None:
    (project / "sub").mkdir()
    code = "import os; print(os.getcwd().rsplit(chr(92), 1)[-1], os.environ['GREETING'])"
    task_id = create(hipercow, "--env", "GREETING=hej", "--", "python", "-c", code)
    task_id = hipercow(
        "task", "create", "--env", "GREETING=hej", "--", "python", "-c", code, cwd=project / "sub"
    ).stdout.strip()
    assert finished(hipercow, task_id).code == 0
    assert hipercow("task", "log", task_id).stdout.strip() == "sub hej"


def test_a_task_outlives_the_command_that_submitted_it(hipercow: WinCli, project: Path) -> None:
    """The task runs on after `task create` returned, until the test lets it finish."""
    code = "import os, time\nwhile not os.path.exists('go'):\n    time.sleep(0.1)\nprint('done')\n"
    task_id = create(hipercow, "--", "python", "-c", code)
    wait_until(lambda: status(hipercow, task_id) == "running", timeout=60)
    (project / "go").write_text("")
    assert finished(hipercow, task_id).code == 0
    assert hipercow("task", "log", task_id).stdout.strip() == "done"


#: A task that starts a child (its pid in pids.txt) and then waits.
TREE = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
    "open('pids.txt', 'w').write(f'{child.pid}')\n"
    "time.sleep(120)\n"
)


def test_cancel_kills_the_whole_tree(winpy: WinPython, hipercow: WinCli, project: Path) -> None:
    task_id = create(hipercow, "--", "python", "-c", TREE)
    wait_until(lambda: (project / "pids.txt").exists() and (project / "pids.txt").read_text() != "")
    grandchild = int((project / "pids.txt").read_text())
    launch = json.loads(
        (project / "hipercow" / "tasks" / task_id[:2] / task_id[2:] / "local.json").read_text()
    )
    assert windows_alive(winpy, project, [launch["pid"], grandchild]) == [True, True]
    done = hipercow("task", "cancel", task_id)
    assert status(hipercow, task_id) == "cancelled", done.output
    wait_until(lambda: windows_alive(winpy, project, [launch["pid"], grandchild]) == [False, False])


def test_a_killed_runner_is_lost_and_leaves_no_orphans(
    winpy: WinPython, hipercow: WinCli, project: Path
) -> None:
    """Defect 7: the runner's job object takes the task's tree with it when the runner dies."""
    task_id = create(hipercow, "--", "python", "-c", TREE)
    local = project / "hipercow" / "tasks" / task_id[:2] / task_id[2:] / "local.json"
    wait_until(lambda: local.exists() and (project / "pids.txt").exists())
    wait_until(lambda: (project / "pids.txt").read_text() != "")
    grandchild = int((project / "pids.txt").read_text())
    runner = json.loads(local.read_text())["pid"]
    winpy.run("-c", f"import psutil; psutil.Process({runner}).kill()", cwd=project)
    wait_until(lambda: status(hipercow, task_id) == "failure", timeout=60)
    assert "lost" in hipercow("task", "info", task_id).stdout
    wait_until(lambda: windows_alive(winpy, project, [grandchild]) == [False], timeout=30)


def test_queue_runs_one_at_a_time_within_max_cores(hipercow: WinCli, project: Path) -> None:
    hipercow("driver", "configure", "local", "max_cores=1")
    code = "import time; print(time.time()); time.sleep(1); print(time.time())"
    ids = [create(hipercow, "--", "python", "-c", code) for _ in range(2)]
    for task_id in ids:
        assert finished(hipercow, task_id).code == 0
    (_, first_end), (second_start, _) = (
        map(float, hipercow("task", "log", task_id).stdout.split()) for task_id in ids
    )
    assert second_start >= first_end


def test_bulk_tasks_and_bundle_status(hipercow: WinCli) -> None:
    made = hipercow(
        "bulk", "create", "--name", "sq", "--data", "x=1..3", "--", "python", "-c", "print(@x * @x)"
    )
    assert made.code == 0, made.output
    waited = hipercow("bundle", "wait", "sq", "--timeout", "60", check=False)
    assert waited.code == 0, waited.output
    rows = hipercow("task", "list", "--status", "success").stdout.strip().splitlines()
    assert len(rows) == 3
    logs = sorted(hipercow("task", "log", row.split()[0]).stdout.strip() for row in rows)
    assert logs == ["1", "4", "9"]


def test_bad_input_is_brief_and_writes_nothing(hipercow: WinCli, project: Path) -> None:
    before = sorted(p.name for p in (project / "hipercow").rglob("*"))
    done = hipercow("task", "status", "not-a-task", check=False)
    assert done.code == 1
    assert "Traceback" not in done.output and len(done.stderr.strip().splitlines()) <= 2
    assert sorted(p.name for p in (project / "hipercow").rglob("*")) == before
