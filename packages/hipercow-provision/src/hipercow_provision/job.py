"""The provisioning job: what a hipercow task runs on the node to build an environment.

`start_provision` creates a `call` task of `hipercow_provision.job:run`, so
this runs under hipercow's runner, in hipercow's own interpreter, with the
root in `HIPERCOW_ROOT` and stdout going to the task log that the user follows.
Its payload asks `pyexec` to leave through `os._exit` once the result is
written, so engines may do native work (py-rattler) in this process.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from typing import Any

from hipercow_core.environments import (
    builds_dir,
    history_dir,
    load_engine,
    read_environment,
    write_build,
)
from hipercow_core.errors import HipercowError
from hipercow_core.file_locks import LockTimeoutError
from hipercow_core.pyexec import EXIT_IMMEDIATE, EXIT_PAYLOAD
from hipercow_core.root import Root
from hipercow_core.schema import BuildRecord
from hipercow_provision import history as hist
from hipercow_provision.build import execute
from hipercow_provision.history import HistoryStore


def _fail(message: str) -> None:
    sys.stdout.write(f"hipercow-provision: {message}\n")
    sys.stdout.flush()
    raise SystemExit(1)


def exits_without_shutdown(root: Root) -> bool:
    """Whether `pyexec` ends this job with `os._exit`: its own task's payload says so.

    Read from the task rather than assumed, so a job of a task made without
    the entry (an older hipercow's) keeps native work in a child process.
    """
    from hipercow_core.store import read_task_data

    task_id = os.environ.get("HIPERCOW_TASK_ID")
    if not task_id:
        return False
    try:
        payload = read_task_data(root, task_id).payload
    except HipercowError:
        return False
    return payload.get(EXIT_PAYLOAD) == EXIT_IMMEDIATE


def run(environment: str, attempt_id: str) -> dict[str, Any]:
    """Build attempt `attempt_id` of `environment`; exits non-zero unless it succeeded."""
    root = Root.find()
    # Not provision.store_for: that module (tasks, drivers) is the submitter's, not the job's.
    store = HistoryStore(history_dir(root, environment))
    attempt = store.read_attempt(attempt_id)
    running = store.read_running()
    if running is None or running.attempt != attempt_id:
        store.write_result(
            hist.lost_result(attempt, "the attempt no longer held the environment when it started")
        )
        _fail(f"attempt {attempt_id} no longer holds environment '{environment}'; nothing done")
    engine = load_engine(read_environment(root, environment).engine)
    lock = store.lock()
    try:
        lock.acquire(timeout=5)
    except LockTimeoutError:
        store.write_result(hist.lost_result(attempt, "another build held the environment's lock"))
        store.release(attempt_id)
        _fail(f"another build of environment '{environment}' holds {lock.lock_file}")
    try:
        result, built = execute(
            store,
            attempt,
            engine,
            lambda key: builds_dir(root, environment) / key,
            echo=sys.stdout.buffer,
            exits_without_shutdown=exits_without_shutdown(root),
        )
        if built is not None and result.platform and result.python_version:
            write_build(
                root,
                environment,
                BuildRecord(
                    key=built.key,
                    platform=result.platform,
                    python_version=result.python_version,
                    prefix=f"builds/{built.key}",
                    interpreter=built.layout.interpreter,
                    path=built.layout.path,
                    prefix_variable=built.layout.prefix_variable,
                    activate=built.layout.activate,
                    attempt=attempt_id,
                    updated=datetime.now(UTC),
                ),
            )
    finally:
        store.release(attempt_id)
        lock.release()
    if result.status != "success":
        # The log's closing line, just above, gave the reason: say only the outcome.
        _fail(f"attempt {attempt_id}: {result.status}")
    return {"attempt": attempt_id, "build": result.build, "packages": len(result.packages)}
