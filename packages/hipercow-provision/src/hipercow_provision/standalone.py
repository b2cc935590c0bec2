"""One attempt of the standalone `hipercow-provision run`: claim the history, record, build.

In a root, provisioning is a task and `provision` claims the history for it;
with no root the command itself is the build, so it takes the history's lock
for the whole build and records the attempt before anything is installed.
Kept apart from the command line (`cli`) so that only parsing lives there.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from hipercow_core.environments import load_engine
from hipercow_core.errors import InvalidInputError
from hipercow_core.file_locks import LockTimeoutError
from hipercow_core.schema import (
    ProvisionAttempt,
    ProvisionInputs,
    ProvisionResult,
    ProvisionRunning,
)
from hipercow_provision import history as hist
from hipercow_provision.build import execute
from hipercow_provision.history import HistoryEntry, HistoryStore, ProvisionBusyError
from hipercow_provision.inputs import inputs_hash

InputsFor = Callable[[ProvisionInputs | None, str], ProvisionInputs]
"""Given the last attempt's inputs and the engine's name, the inputs of the new attempt."""


def build_attempt(
    store: HistoryStore,
    entries: Sequence[HistoryEntry],
    prefix: Path,
    inputs_for: InputsFor,
    engine_name: str | None,
    python: str | None,
    fresh: bool,
    echo: BinaryIO | None,
) -> tuple[int, ProvisionAttempt, ProvisionResult]:
    """Build at `prefix` as a new attempt; returns its number, its record and its result.

    The engine defaults to the last attempt's (else uv). A second build on the
    same history is refused while one holds the lock; an attempt left without
    an outcome by a build that died is closed as lost first.
    """
    name = engine_name or (entries[-1].attempt.engine if entries else "uv")
    engine = load_engine(name)
    if not engine.needs_build:
        raise InvalidInputError(f"the '{name}' engine has nothing to build")
    inputs = inputs_for(hist.last_inputs(entries), name)
    lock = store.lock()
    try:
        lock.acquire(timeout=1)
    except LockTimeoutError:
        running = store.read_running()
        detail = (
            f": attempt {running.attempt}, pid {running.pid} on {running.host}" if running else ""
        )
        raise ProvisionBusyError(
            f"another provisioning is using the history '{store.directory}'{detail}",
            "Wait for it to finish, then run again.",
        ) from None
    try:
        stale = store.read_running()
        if stale is not None and stale.attempt in store.attempt_ids():
            stale_attempt = store.read_attempt(stale.attempt)
            store.write_result(
                hist.lost_result(stale_attempt, "the build stopped without recording an outcome")
            )
        now = datetime.now(UTC)
        attempt = ProvisionAttempt(
            id=hist.new_attempt_id(now),
            engine=name,
            inputs=inputs,
            inputs_hash=inputs_hash(name, inputs),
            requested=now,
            host=socket.gethostname(),
            python=python,
            fresh=fresh,
            prefix=str(prefix),
        )
        store.update_claim(
            ProvisionRunning(attempt=attempt.id, started=now, host=attempt.host, pid=os.getpid())
        )
        store.write_attempt(attempt)
        result, _ = execute(store, attempt, engine, lambda _key: prefix, echo=echo)
    finally:
        store.running_path.unlink(missing_ok=True)
        lock.release()
    return len(entries) + 1, attempt, result
