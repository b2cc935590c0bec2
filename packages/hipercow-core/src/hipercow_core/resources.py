"""Parsing and validating resource requests in the forms people type.

Parsing turns text into a `Resources` record; validation checks that record
against the cluster's own `ClusterInfo`, with messages that name the limit.
Memory is kept in megabytes, 1 GB = 1000 MB, as the HPC portal counts it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec

from hipercow_core.errors import InvalidResourcesError
from hipercow_core.schema import ClusterInfo, HoldUntil, Priority, Resources

_DURATION = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m?)?", re.IGNORECASE)
_CLOCK = re.compile(r"(?P<h>\d+):(?P<m>\d{2})(?::(?P<s>\d{2}))?")
_MEMORY = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[kmgt]?)b?", re.IGNORECASE)
_MEMORY_SCALE = {"k": 0.001, "m": 1, "g": 1000, "t": 1000_000, "": 1000}
_WHOLE_NODE = {"node", "all"}
# Bounds that keep every value representable and every later sum of times
# valid; anything beyond them is a typo, not a request.
MAX_DURATION_MINUTES = 366 * 24 * 60
MAX_CORES = 1_000_000
MAX_MEMORY_MB = 1_000_000_000


def parse_cores(value: str | int) -> int | str:
    """A positive core count, or `node` for a whole node (`all` is accepted too)."""
    text = str(value).strip().lower()
    if text in _WHOLE_NODE:
        return "node"
    if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_CORES:
        return int(text)
    raise InvalidResourcesError(
        f"cores: '{value}' is not a number of cores",
        "Give a whole number of at least 1, or 'node' for a whole node.",
    )


def parse_duration_minutes(value: str | int, field: str) -> int:
    """Minutes from `90`, `45m`, `1h30`, `1h30m`, `2d`, `1d12h`, `1:30` or `1:30:00` (H:MM[:SS])."""
    text = str(value).strip()
    minutes = duration_minutes(text)
    if minutes is None or minutes <= 0:
        raise InvalidResourcesError(
            f"{field}: '{value}' is not a duration",
            "Use minutes (90) or units such as 45m, 1h30, 2d, or H:MM:SS.",
        )
    _check_duration(minutes, value, field)
    return minutes


def _check_duration(minutes: int, value: object, field: str) -> None:
    if minutes > MAX_DURATION_MINUTES:
        raise InvalidResourcesError(
            f"{field}: '{value}' is longer than a year",
            f"Give at most {MAX_DURATION_MINUTES // 1440} days.",
        )


def duration_minutes(text: str) -> int | None:
    """Minutes in a duration, or None when the text is not one.

    Each unit after the first must stay below its carry (`1h99` and `1:75`
    are typos, not 2h39 and 2h15); the leading unit may be any size.
    """
    if not text or not text.isascii():
        return None
    clock = _CLOCK.fullmatch(text)
    if clock:
        if int(clock["m"]) >= 60 or int(clock["s"] or 0) >= 60:
            return None
        seconds = int(clock["h"]) * 3600 + int(clock["m"]) * 60 + int(clock["s"] or 0)
        return math.ceil(seconds / 60)
    match = _DURATION.fullmatch(text)
    if not match or not any(match.groupdict().values()):
        return None
    days, hours, mins = (int(match[k] or 0) for k in ("d", "h", "m"))
    if (match["d"] and match["h"] and hours >= 24) or ((match["d"] or match["h"]) and mins >= 60):
        return None
    return days * 1440 + hours * 60 + mins


def parse_memory_mb(value: str | int, field: str) -> int:
    """Megabytes from `4` (GB), `4G`, `512M`, `1T`, `1.5g`; 1 GB = 1000 MB."""
    text = str(value).strip()
    match = _MEMORY.fullmatch(text) if text.isascii() and len(text) < 20 else None
    megabytes = math.ceil(float(match["n"]) * _MEMORY_SCALE[match["unit"].lower()]) if match else 0
    if megabytes <= 0 or megabytes > MAX_MEMORY_MB:
        raise InvalidResourcesError(
            f"{field}: '{value}' is not an amount of memory",
            "Give a number of GB (4) or a number with a unit: 512M, 4G, 1T.",
        )
    return megabytes


def parse_hold_until(value: str, now: datetime | None = None) -> HoldUntil:
    """A start-not-before request: a duration, a future date-time, or a named time."""
    text = value.strip().lower()
    if text in ("tonight", "midnight", "weekend"):
        return HoldUntil(kind=text)  # type: ignore[arg-type]
    minutes = duration_minutes(text)
    if minutes is not None and minutes > 0:
        _check_duration(minutes, value, "hold_until")
        return HoldUntil(kind="after", minutes=minutes)
    moment = now or datetime.now().astimezone()
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidResourcesError(
            f"--hold-until '{value}' is not a time",
            "Use a duration (2h), a date-time (2026-12-01T09:00), tonight, midnight or weekend.",
        ) from None
    if at.year > moment.year + 1:  # checked first: the local zone cannot place the year 9999
        raise _year_ahead(value)
    at = at if at.tzinfo else local_time(at, named=None)
    if at <= moment:
        raise InvalidResourcesError(
            f"--hold-until '{value}' is in the past",
            "Give a date-time in the future, or leave hold_until out to start now.",
        )
    if at - moment > timedelta(minutes=MAX_DURATION_MINUTES):
        raise _year_ahead(value)
    return HoldUntil(kind="at", at=at)


def _year_ahead(value: str) -> InvalidResourcesError:
    return InvalidResourcesError(
        f"--hold-until '{value}' is more than a year ahead",
        "Give a date-time within the next year.",
    )


def resolve_hold_until(hold: HoldUntil, now: datetime) -> datetime:
    """The absolute start time; called once per submission so a batch agrees.

    Named times are wall-clock times of this machine's local zone (the user's
    evening, not UTC's): `tonight` is 19:00 today, or now between 19:00 and
    03:00; `midnight` the next 00:00; `weekend` Saturday 00:00, or now during
    a weekend. At a clock change, see `local_time` for what they mean.
    """
    now = now.astimezone()  # this machine's local zone, whatever `now` came in
    today = now.replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    if hold.kind == "at" and hold.at is not None:
        return hold.at
    if hold.kind == "after" and hold.minutes is not None:
        return now + timedelta(minutes=hold.minutes)
    if hold.kind == "tonight":
        if now.hour >= 19 or now.hour < 3:
            return now
        return local_time(today.replace(hour=19), named=hold.kind)
    if hold.kind == "midnight":
        return local_time(today + timedelta(days=1), named=hold.kind)
    if now.weekday() >= 5:
        return now
    return local_time(today + timedelta(days=5 - now.weekday()), named=hold.kind)


def local_time(wall: datetime, *, named: str | None) -> datetime:
    """A wall-clock time of this machine's local zone as an aware datetime.

    At a clock change a wall time can be skipped (clocks go forward) or
    happen twice (clocks go back). A named time (`named` is its name) then
    takes the stated choice: a skipped time means the moment the clocks jump
    (so `midnight` on a day that starts at 01:00 means that 01:00), a doubled
    one its first occurrence. A date-time the user typed (`named` is None)
    is refused instead, since only they know which moment they meant.
    """
    first = wall.replace(fold=0).astimezone()
    second = wall.replace(fold=1).astimezone()
    if first.utcoffset() == second.utcoffset():
        return first
    exists = first.astimezone(UTC).astimezone().replace(tzinfo=None) == wall
    if named is not None:  # skipped: the later reading is the jump; doubled: the earlier
        return (max(first, second) if not exists else min(first, second)).astimezone()
    shown = wall.isoformat(timespec="minutes")
    if not exists:
        raise InvalidResourcesError(
            f"--hold-until {shown} does not exist in local time (the clocks skip it)",
            "Give a time outside the clock change, or add the UTC offset you mean.",
        )
    raise InvalidResourcesError(
        f"--hold-until {shown} happens twice in local time (the clocks go back)",
        f"Add the UTC offset you mean: {first.isoformat(timespec='minutes')} "
        f"or {second.isoformat(timespec='minutes')}.",
    )


def zone_name(at: datetime) -> str:
    """A time's zone as people read it: its abbreviation and offset, e.g. `JST, UTC+09:00`."""
    offset = at.strftime("%z")
    shown = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    abbreviation = at.tzname()
    return f"{abbreviation}, {shown}" if abbreviation and abbreviation != shown else shown


def parse_priority(value: str) -> Priority:
    text = value.strip().lower()
    if text == "low":
        return "low"
    if text == "normal":
        return "normal"
    raise InvalidResourcesError(f"priority: '{value}' is not a priority", "Use 'low' or 'normal'.")


def parse_nodes(values: Sequence[str]) -> tuple[str, ...]:
    """Node names, split on commas, de-duplicated in the order given."""
    names: dict[str, None] = {}
    for value in values:
        for name in value.split(","):
            if not name.strip():
                raise InvalidResourcesError(
                    f"requested_nodes: '{value}' has an empty node name",
                    "Give node names, e.g. --node n1 or --node n1,n2.",
                )
            names[name.strip()] = None
    return tuple(names)


def parse_resources(
    *,
    cores: str | int | None = None,
    exclusive: bool = False,
    max_runtime: str | int | None = None,
    hold_until: str | None = None,
    memory_per_node: str | int | None = None,
    memory_per_task: str | int | None = None,
    requested_nodes: Sequence[str] = (),
    priority: str | None = None,
    queue: str | None = None,
    threads_per_process: str | int | None = None,
    thread_variables: bool = True,
) -> Resources:
    """Build a `Resources` from user text; unspecified fields keep their defaults."""
    fields: dict[str, object] = {"exclusive": exclusive, "thread_variables": thread_variables}
    if cores is not None:
        fields["cores"] = parse_cores(cores)
    if max_runtime is not None:
        fields["max_runtime"] = parse_duration_minutes(max_runtime, "max_runtime")
    if hold_until is not None:
        fields["hold_until"] = parse_hold_until(hold_until)
    if memory_per_node is not None:
        fields["memory_per_node"] = parse_memory_mb(memory_per_node, "memory_per_node")
    if memory_per_task is not None:
        fields["memory_per_task"] = parse_memory_mb(memory_per_task, "memory_per_task")
    if requested_nodes:
        fields["requested_nodes"] = parse_nodes(requested_nodes)
    if priority is not None:
        fields["priority"] = parse_priority(priority)
    if queue is not None:
        if not queue.strip():
            raise InvalidResourcesError("queue: the queue name is empty", "Name a queue.")
        fields["queue"] = queue.strip()
    if threads_per_process is not None:
        fields["threads_per_process"] = parse_threads(threads_per_process, fields.get("cores"))
    return msgspec.convert(fields, Resources)


def parse_threads(text: str | int, cores: object) -> int:
    """`--threads-per-process K`: a whole number from 1 to the task's cores."""
    try:
        threads = int(str(text).strip())
    except ValueError:
        threads = 0
    if threads < 1:
        raise InvalidResourcesError(
            f"--threads-per-process '{text}' is not a whole number of at least 1",
            "Give the threads each of the task's processes should use, e.g. 2.",
        )
    limit = cores if isinstance(cores, int) else (1 if cores is None else None)
    if limit is not None and threads > limit:
        raise InvalidResourcesError(
            f"--threads-per-process {threads} is more than the task's {limit} core(s)",
            f"Ask for --cores {threads} or more, or fewer threads per process.",
        )
    return threads


def validate_resources(resources: Resources, cluster: ClusterInfo) -> Resources:
    """Check a request against the cluster and fill in its default queue.

    Errors name the option the user typed (`--memory-per-node`) and give
    sizes in the units `hipercow cluster info` shows: GB and minutes.
    """
    where = f"the {cluster.driver} cluster '{cluster.name}'"
    if isinstance(resources.cores, int) and resources.cores > cluster.max_cores:
        raise InvalidResourcesError(
            f"--cores {resources.cores} is more than the largest node of {where} has "
            f"({cluster.max_cores} cores)",
            f"Ask for at most {cluster.max_cores}, or --cores node for a whole node; "
            "'hipercow cluster info' shows the nodes.",
        )
    for field in ("memory_per_node", "memory_per_task"):
        value = getattr(resources, field)
        if value is not None and value > cluster.max_memory:
            raise InvalidResourcesError(
                f"--{field.replace('_', '-')} {_show_gb(value)} is more than the largest node "
                f"of {where} has ({_show_gb(cluster.max_memory)})",
                f"Ask for at most {_show_gb(cluster.max_memory)}; "
                "'hipercow cluster info' shows the nodes.",
            )
    queue_name = resources.queue or cluster.default_queue
    if resources.queue is not None and not cluster.queues:
        raise InvalidResourcesError(
            f"queue '{resources.queue}' requested, but {where} has no queues",
            "Leave --queue out for this driver.",
        )
    if cluster.queues and queue_name is not None:
        queue = cluster.queue(queue_name)
        if queue is None:
            known = ", ".join(q.name for q in cluster.queues)
            raise InvalidResourcesError(
                f"--queue {queue_name}: no such queue on {where}",
                f"Use one of: {known}.",
            )
        if (
            resources.max_runtime is not None
            and queue.max_runtime is not None
            and resources.max_runtime > queue.max_runtime
        ):
            raise InvalidResourcesError(
                f"--max-runtime {resources.max_runtime} min is longer than the "
                f"{queue.max_runtime} min limit of queue '{queue.name}'",
                "Ask for less time, or choose a queue with a longer limit with --queue "
                "('hipercow cluster info' shows the limits).",
            )
    if resources.requested_nodes and cluster.nodes:
        known_nodes = {n.name for n in cluster.nodes}
        unknown = [n for n in resources.requested_nodes if n not in known_nodes]
        if unknown:
            raise InvalidResourcesError(
                f"--node {', '.join(unknown)}: no such node on {where}",
                f"Known nodes: {', '.join(sorted(known_nodes))}.",
            )
    if queue_name is not None and cluster.queues and resources.queue is None:
        return msgspec.structs.replace(resources, queue=queue_name)
    return resources


def _show_gb(megabytes: int) -> str:
    """Memory as `cluster info` shows it: GB, 1 GB = 1000 MB."""
    return f"{megabytes / 1000:g} GB"
