"""The history of provisioning attempts: one directory per attempt, kept forever.

    <history>/
      running.json          ProvisionRunning: the claim of the attempt in progress
      provision.lock        held by the process building, for the whole build
      <attempt id>/
        attempt.json        ProvisionAttempt: what was asked (written once, first)
        result.json         ProvisionResult: how it ended (written once, by whoever knows first)
        log                 everything the build printed
        requirements.txt    the requirements file as installed, when one was given
        included/           copies of the files it includes (-r, -c), as installed

Each file has one writer, as in the task store: the requester writes
`attempt.json`, the build writes `log` and `result.json`. When a build dies
without a result (killed, cancelled, node lost), the first reader that can
tell writes the result instead, so an attempt never stays "running" forever
and a cancelled job is never taken for a success.

The same layout serves an environment in a hipercow root
(`hipercow/environments/NAME/history`) and the standalone `hipercow-provision`
(any directory).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import msgspec

from hipercow_core.errors import HipercowError, InvalidInputError
from hipercow_core.file_locks import FileLock, LockTimeoutError
from hipercow_core.fsutil import atomic_write, decode, read_bytes, write_once
from hipercow_core.schema import (
    AttemptStatus,
    PackageInfo,
    ProvisionAttempt,
    ProvisionInputs,
    ProvisionResult,
    ProvisionRunning,
)
from hipercow_provision.inputs import inputs_hash

ATTEMPT = "attempt.json"
RESULT = "result.json"
LOG = "log"
RUNNING = "running.json"
LOCK = "provision.lock"

_ATTEMPT_ID = re.compile(r"\d{8}-\d{6}-\d{3}-[0-9a-f]{4}")
_BROKEN = "Remove that attempt's directory (or the file), then provision again."
_attempt_decoder = msgspec.json.Decoder(ProvisionAttempt)
_result_decoder = msgspec.json.Decoder(ProvisionResult)
_running_decoder = msgspec.json.Decoder(ProvisionRunning)


class ProvisionBusyError(HipercowError):
    """Another attempt on the same environment is in progress."""


class HistoryEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    """One attempt as `history` shows it: its number (1 = oldest), request, result and status."""

    number: int
    attempt: ProvisionAttempt
    status: AttemptStatus
    result: ProvisionResult | None = None

    @property
    def id(self) -> str:
        return self.attempt.id


ChangeKind = Literal["added", "removed", "updated", "unchanged"]


class PackageChange(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    change: ChangeKind
    old: PackageInfo | None = None
    new: PackageInfo | None = None


class Comparison(msgspec.Struct, frozen=True):
    """Two attempts' package lists side by side: `a` is the older one."""

    a: str
    b: str
    changes: tuple[PackageChange, ...]

    def of_kind(self, kind: ChangeKind) -> list[PackageChange]:
        return [c for c in self.changes if c.change == kind]


class CheckOutcome(msgspec.Struct, frozen=True, omit_defaults=True):
    """Whether a new attempt would install different inputs from the last successful one."""

    changed: bool
    inputs: ProvisionInputs
    inputs_hash: str
    last: str | None = None
    last_hash: str | None = None


def new_attempt_id(now: datetime | None = None) -> str:
    """`20260315-142233-042-a1b2` (UTC, to the millisecond): sorts by time, and is readable.

    The random part keeps ids from two machines apart within a millisecond.
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%d-%H%M%S}-{moment.microsecond // 1000:03d}-{secrets.token_hex(2)}"


def validate_attempt_id(attempt_id: str) -> str:
    if not _ATTEMPT_ID.fullmatch(attempt_id):
        raise InvalidInputError(
            f"'{attempt_id}' is not an attempt id",
            "Attempt ids look like 20260315-142233-042-a1b2.",
        )
    return attempt_id


class HistoryStore:
    """The files of one history directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __repr__(self) -> str:
        return f"HistoryStore({str(self.directory)!r})"

    # --- attempts

    def attempt_dir(self, attempt_id: str) -> Path:
        return self.directory / validate_attempt_id(attempt_id)

    def log_path(self, attempt_id: str) -> Path:
        return self.attempt_dir(attempt_id) / LOG

    def write_attempt(self, attempt: ProvisionAttempt) -> None:
        directory = self.attempt_dir(attempt.id)
        directory.mkdir(parents=True, exist_ok=False)
        atomic_write(directory / ATTEMPT, msgspec.json.format(msgspec.json.encode(attempt)) + b"\n")

    def read_attempt(self, attempt_id: str) -> ProvisionAttempt:
        raw = read_bytes(self.attempt_dir(attempt_id) / ATTEMPT)
        if raw is None:
            raise InvalidInputError(
                f"attempt '{attempt_id}' does not exist", "See the attempts with 'history'."
            )
        return decode(self.attempt_dir(attempt_id) / ATTEMPT, raw, _attempt_decoder, _BROKEN)

    def read_result(self, attempt_id: str) -> ProvisionResult | None:
        raw = read_bytes(self.attempt_dir(attempt_id) / RESULT)
        path = self.attempt_dir(attempt_id) / RESULT
        return decode(path, raw, _result_decoder, _BROKEN) if raw else None

    def write_result(self, result: ProvisionResult) -> bool:
        """Record how an attempt ended unless that is known already; True if this call did."""
        encoded = msgspec.json.format(msgspec.json.encode(result)) + b"\n"
        return write_once(self.attempt_dir(result.attempt) / RESULT, encoded)

    def attempt_ids(self) -> list[str]:
        """Every complete attempt (its request written), oldest first."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(
            n
            for n in names
            if _ATTEMPT_ID.fullmatch(n) and (self.directory / n / ATTEMPT).is_file()
        )

    def read_log(self, attempt_id: str) -> str | None:
        raw = read_bytes(self.log_path(attempt_id))
        return raw.decode(errors="replace") if raw is not None else None

    # --- the claim and the lock

    @property
    def running_path(self) -> Path:
        return self.directory / RUNNING

    def read_running(self) -> ProvisionRunning | None:
        raw = read_bytes(self.running_path)
        return decode(self.running_path, raw, _running_decoder, _BROKEN) if raw else None

    def claim(self, running: ProvisionRunning) -> bool:
        """Claim the history for an attempt; False if another attempt holds it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        return write_once(self.running_path, msgspec.json.encode(running))

    def update_claim(self, running: ProvisionRunning) -> None:
        """Rewrite our own claim (e.g. with the job's task id), only ever by its holder."""
        atomic_write(self.running_path, msgspec.json.encode(running))

    def release(self, attempt_id: str) -> None:
        """Drop the claim if it is this attempt's: a stale claim is never someone else's to drop."""
        running = self.read_running()
        if running is not None and running.attempt == attempt_id:
            self.running_path.unlink(missing_ok=True)

    def lock(self) -> FileLock:
        """The lock a build holds for its whole duration on the machine building."""
        self.directory.mkdir(parents=True, exist_ok=True)
        return FileLock(self.directory / LOCK)

    def lock_is_free(self) -> bool:
        lock = self.lock()
        try:
            lock.acquire(timeout=0)
        except LockTimeoutError:
            return False
        lock.release()
        return True


# Decides the outcome of an attempt that has no result yet: a result to
# record (it ended without one), or the status it is in ("queued", "running").
Reconciler = Callable[[ProvisionAttempt], ProvisionResult | AttemptStatus]


def standalone_reconciler(store: HistoryStore) -> Reconciler:
    """Without a scheduler: an attempt is running while some process holds the lock."""

    def decide(attempt: ProvisionAttempt) -> ProvisionResult | AttemptStatus:
        running = store.read_running()
        if running is not None and running.attempt == attempt.id and not store.lock_is_free():
            return "running"
        return lost_result(attempt, "the build stopped without recording an outcome")

    return decide


def lost_result(
    attempt: ProvisionAttempt, why: str, status: AttemptStatus = "failure"
) -> ProvisionResult:
    return ProvisionResult(attempt=attempt.id, status=status, finished=datetime.now(UTC), error=why)


def entry(
    store: HistoryStore, attempt: ProvisionAttempt, number: int, reconcile: Reconciler
) -> HistoryEntry:
    result = store.read_result(attempt.id)
    if result is None:
        decided = reconcile(attempt)
        if isinstance(decided, str):
            return HistoryEntry(number=number, attempt=attempt, status=decided)
        store.write_result(decided)
        store.release(attempt.id)
        result = store.read_result(attempt.id) or decided
    return HistoryEntry(number=number, attempt=attempt, status=result.status, result=result)


def read_history(store: HistoryStore, reconcile: Reconciler) -> list[HistoryEntry]:
    """Every attempt, oldest first, numbered from 1; unfinished ones reconciled."""
    return [
        entry(store, store.read_attempt(attempt_id), number, reconcile)
        for number, attempt_id in enumerate(store.attempt_ids(), start=1)
    ]


def select(entries: Sequence[HistoryEntry], selector: str) -> HistoryEntry:
    """An attempt by number (`3`; `-1` is the latest), `latest`, or its id or a unique prefix."""
    if not entries:
        raise InvalidInputError("there are no attempts yet", "Provision the environment first.")
    if selector == "latest":
        return entries[-1]
    if re.fullmatch(r"-?\d{1,7}", selector):
        index = int(selector)
        if 1 <= index <= len(entries):
            return entries[index - 1]
        if -len(entries) <= index < 0:
            return entries[index]
        raise InvalidInputError(
            f"there is no attempt number {index}",
            f"Attempts are numbered 1 to {len(entries)}; -1 is the latest.",
        )
    matches = [e for e in entries if e.id.startswith(selector)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InvalidInputError(
            f"no attempt matches '{selector}'", "See the attempts and their numbers with 'history'."
        )
    raise InvalidInputError(f"'{selector}' matches {len(matches)} attempts", "Give more of the id.")


def _finished(entries: Sequence[HistoryEntry]) -> list[HistoryEntry]:
    return [e for e in entries if e.result is not None]


def default_pair(entries: Sequence[HistoryEntry]) -> tuple[HistoryEntry, HistoryEntry]:
    """The latest finished attempt and the one before it on the same build."""
    done = _finished(entries)
    if not done:
        raise InvalidInputError("no attempt has finished yet", "Provision the environment first.")
    latest = done[-1]
    build = latest.result.build if latest.result else None
    earlier = [e for e in done[:-1] if e.result is not None and e.result.build == build]
    if not earlier:
        earlier = done[:-1]
    if not earlier:
        raise InvalidInputError(
            "there is only one finished attempt, so nothing to compare it with",
            "Provision again, then compare.",
        )
    return earlier[-1], latest


def _key(name: str) -> str:
    """Distribution names compared as Python packaging does (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _identity(info: PackageInfo) -> tuple[str, str, str | None, str | None]:
    """What makes two installs of a package the same: a conda package's build and archive too."""
    return (info.version, info.source, info.build, info.sha256)


def compare(a: HistoryEntry, b: HistoryEntry) -> Comparison:
    """What changed in the package list from attempt `a` to attempt `b`."""
    old = {_key(p.name): p for p in (a.result.packages if a.result else ())}
    new = {_key(p.name): p for p in (b.result.packages if b.result else ())}
    changes = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before is None and after is not None:
            changes.append(PackageChange(after.name, "added", new=after))
        elif after is None and before is not None:
            changes.append(PackageChange(before.name, "removed", old=before))
        elif before is not None and after is not None:
            same = _identity(before) == _identity(after)
            changes.append(
                PackageChange(after.name, "unchanged" if same else "updated", before, after)
            )
    return Comparison(a=a.id, b=b.id, changes=tuple(changes))


def compare_selected(
    entries: Sequence[HistoryEntry], a: str | None = None, b: str | None = None
) -> Comparison:
    """Compare two attempts; by default the latest against the one before it."""
    if a is None and b is None:
        first, second = default_pair(entries)
    elif b is None:
        assert a is not None
        first, second = select(entries, a), default_pair(entries)[1]
    else:
        first, second = select(entries, a or "-2"), select(entries, b)
    for chosen in (first, second):
        if chosen.result is None:
            raise InvalidInputError(
                f"attempt {chosen.number} ({chosen.id}) has not finished", "Wait for it first."
            )
    return compare(first, second)


def check(entries: Sequence[HistoryEntry], engine: str, inputs: ProvisionInputs) -> CheckOutcome:
    """Compare new inputs with those of the last successful attempt."""
    digest = inputs_hash(engine, inputs)
    successes = [e for e in entries if e.status == "success"]
    if not successes:
        return CheckOutcome(changed=True, inputs=inputs, inputs_hash=digest)
    last = successes[-1]
    return CheckOutcome(
        changed=digest != last.attempt.inputs_hash,
        inputs=inputs,
        inputs_hash=digest,
        last=last.id,
        last_hash=last.attempt.inputs_hash,
    )


def last_inputs(entries: Sequence[HistoryEntry]) -> ProvisionInputs | None:
    return entries[-1].attempt.inputs if entries else None
