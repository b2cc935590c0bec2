"""Resource parsing in the forms people type, and validation against a cluster."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from hipercow_core.errors import InvalidResourcesError
from hipercow_core.resources import (
    parse_cores,
    parse_duration_minutes,
    parse_hold_until,
    parse_memory_mb,
    parse_resources,
    resolve_hold_until,
    validate_resources,
)
from hipercow_core.schema import ClusterInfo, NodeInfo, QueueInfo, Resources


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("90", 90),
        ("45m", 45),
        ("1h30", 90),
        ("1h30m", 90),
        ("2d", 2880),
        ("1d12h", 2160),
        ("2h", 120),
        ("1:30:00", 90),
        ("0:00:30", 1),
        ("1:30", 90),
        (30, 30),
    ],
)
def test_durations_in_every_form(text: str | int, minutes: int) -> None:
    assert parse_duration_minutes(text, "max_runtime") == minutes


@pytest.mark.parametrize("text", ["soon", "", "0", "1x", "h", "-5", "1.5h"])
def test_bad_durations_name_the_field(text: str) -> None:
    with pytest.raises(InvalidResourcesError, match="max_runtime"):
        parse_duration_minutes(text, "max_runtime")


@pytest.mark.parametrize(
    ("text", "mb"),
    [
        ("4", 4000),
        ("4G", 4000),
        ("4g", 4000),
        ("512M", 512),
        ("512mb", 512),
        ("1T", 1_000_000),
        ("1.5G", 1500),
        ("4GB", 4000),
    ],
)
def test_memory_units(text: str, mb: int) -> None:
    assert parse_memory_mb(text, "memory_per_node") == mb


@pytest.mark.parametrize("text", ["4X", "", "G", "-1G", "0"])
def test_bad_memory(text: str) -> None:
    with pytest.raises(InvalidResourcesError, match="memory_per_node"):
        parse_memory_mb(text, "memory_per_node")


def test_cores_accept_whole_node_and_reject_zero() -> None:
    assert parse_cores("4") == 4
    assert parse_cores("all") == "node"
    assert parse_cores("NODE") == "node"
    for bad in ("0", "-1", "two", ""):
        with pytest.raises(InvalidResourcesError, match="cores"):
            parse_cores(bad)


def test_whole_node_survives_saving_and_loading() -> None:
    resources = parse_resources(cores="node", exclusive=True, requested_nodes=["a,b", "a"])
    loaded = msgspec.json.decode(msgspec.json.encode(resources), type=Resources)
    assert loaded == resources
    assert loaded.cores == "node"
    assert loaded.requested_nodes == ("a", "b")


def test_every_field_round_trips() -> None:
    resources = parse_resources(
        cores=2,
        exclusive=True,
        max_runtime="1h30",
        hold_until="tonight",
        memory_per_node="8G",
        memory_per_task="512M",
        requested_nodes=["n1"],
        priority="low",
        queue="short",
    )
    assert msgspec.json.decode(msgspec.json.encode(resources), type=Resources) == resources
    assert resources.max_runtime == 90
    assert resources.memory_per_node == 8000


TZ = timezone(timedelta(hours=0))


@pytest.fixture
def local_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Make this process's local time zone the named one (as a user's machine has it)."""

    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX-only: Windows takes its zone from the system settings")

    def use(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield use
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("now", "kind", "expected"),
    [
        (
            datetime(2026, 11, 25, 10, 0, tzinfo=TZ),
            "tonight",
            datetime(2026, 11, 25, 19, 0, tzinfo=TZ),
        ),
        (
            datetime(2026, 11, 25, 20, 0, tzinfo=TZ),
            "tonight",
            datetime(2026, 11, 25, 20, 0, tzinfo=TZ),
        ),
        (
            datetime(2026, 11, 25, 2, 0, tzinfo=TZ),
            "tonight",
            datetime(2026, 11, 25, 2, 0, tzinfo=TZ),
        ),
        (
            datetime(2026, 11, 25, 10, 0, tzinfo=TZ),
            "midnight",
            datetime(2026, 11, 26, 0, 0, tzinfo=TZ),
        ),
        # Wednesday -> Saturday 00:00; Sunday -> now
        (
            datetime(2026, 11, 25, 10, 0, tzinfo=TZ),
            "weekend",
            datetime(2026, 11, 28, 0, 0, tzinfo=TZ),
        ),
        (
            datetime(2026, 11, 29, 10, 0, tzinfo=TZ),
            "weekend",
            datetime(2026, 11, 29, 10, 0, tzinfo=TZ),
        ),
    ],
)
def test_named_hold_times(
    now: datetime, kind: str, expected: datetime, local_zone: Callable[[str], None]
) -> None:
    local_zone("UTC")
    assert resolve_hold_until(parse_hold_until(kind), now) == expected


def test_hold_for_a_duration_and_at_a_time() -> None:
    now = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)
    assert resolve_hold_until(parse_hold_until("2h"), now) == now + timedelta(hours=2)
    future = (datetime.now().astimezone() + timedelta(days=3)).replace(microsecond=0)
    assert resolve_hold_until(parse_hold_until(future.isoformat()), now) == future
    with pytest.raises(InvalidResourcesError, match="in the past"):
        parse_hold_until("2001-01-01T00:00")
    with pytest.raises(InvalidResourcesError, match="--hold-until"):
        parse_hold_until("someday")


@pytest.mark.parametrize(
    ("zone", "now", "kind", "expected"),
    [
        # Tokyo, 10:00 local: tonight is 19:00 JST, midnight 00:00 JST (not 09:00)
        (
            "Asia/Tokyo",
            datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
            "tonight",
            "2026-12-01T19:00+09:00",
        ),
        (
            "Asia/Tokyo",
            datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
            "midnight",
            "2026-12-02T00:00+09:00",
        ),
        # Friday 20:00 UTC is already Saturday in Tokyo: the weekend has begun
        (
            "Asia/Tokyo",
            datetime(2026, 12, 4, 20, 0, tzinfo=UTC),
            "weekend",
            "2026-12-05T05:00+09:00",
        ),
        # a UK summer: midnight is 00:00 BST, an hour before 00:00 UTC
        (
            "Europe/London",
            datetime(2026, 7, 1, 12, 0, tzinfo=UTC),
            "midnight",
            "2026-07-02T00:00+01:00",
        ),
        # New York evening: still "tonight" by the local clock, though past 03:00 UTC
        (
            "America/New_York",
            datetime(2026, 12, 2, 3, 30, tzinfo=UTC),
            "tonight",
            "2026-12-01T22:30-05:00",
        ),
    ],
)
def test_named_hold_times_are_the_users_local_time(
    zone: str, now: datetime, kind: str, expected: str, local_zone: Callable[[str], None]
) -> None:
    local_zone(zone)
    resolved = resolve_hold_until(parse_hold_until(kind), now)
    assert resolved == datetime.fromisoformat(expected)
    assert resolved.utcoffset() == datetime.fromisoformat(expected).utcoffset()


def test_a_named_time_the_clocks_skip_is_the_moment_they_jump_to(
    local_zone: Callable[[str], None],
) -> None:
    """Chile's clocks go from 00:00 straight to 01:00 on 2026-09-06: that midnight is 01:00."""
    local_zone("America/Santiago")
    now = datetime(2026, 9, 5, 15, 0, tzinfo=UTC)
    resolved = resolve_hold_until(parse_hold_until("midnight"), now)
    assert resolved == datetime(2026, 9, 6, 4, 0, tzinfo=UTC)
    assert resolved.isoformat() == "2026-09-06T01:00:00-03:00"


def test_a_typed_local_time_at_a_clock_change_is_refused_with_the_choices(
    local_zone: Callable[[str], None],
) -> None:
    local_zone("Europe/London")
    # Both clock changes of 2030 lie within a year of this "now" (holds are bounded to a year).
    now = datetime(2030, 1, 15, tzinfo=UTC)
    with pytest.raises(InvalidResourcesError, match="does not exist in local time"):
        parse_hold_until("2030-03-31T01:30", now)
    with pytest.raises(InvalidResourcesError, match="happens twice") as raised:
        parse_hold_until("2030-10-27T01:30", now)
    assert "2030-10-27T01:30+01:00 or 2030-10-27T01:30+00:00" in (raised.value.hint or "")
    assert parse_hold_until("2030-10-27T01:30+00:00", now).at == datetime(
        2030, 10, 27, 1, 30, tzinfo=UTC
    )


CLUSTER = ClusterInfo(
    name="hpc",
    driver="slurm",
    max_cores=8,
    max_memory=16000,
    queues=(QueueInfo("main", default=True), QueueInfo("short", max_runtime=10, nodes=("n1",))),
    default_queue="main",
    nodes=(NodeInfo("n1", 8, 16000), NodeInfo("n2", 8, 16000)),
)


def test_validation_names_the_option_and_speaks_in_one_unit() -> None:
    with pytest.raises(InvalidResourcesError) as e:
        validate_resources(parse_resources(cores=9), CLUSTER)
    assert e.value.message == (
        "--cores 9 is more than the largest node of the slurm cluster 'hpc' has (8 cores)"
    )
    with pytest.raises(InvalidResourcesError) as e:
        validate_resources(parse_resources(memory_per_node="32500M"), CLUSTER)
    assert e.value.message.startswith("--memory-per-node 32.5 GB is more than")
    assert e.value.message.endswith("(16 GB)") and "MB" not in e.value.message
    with pytest.raises(InvalidResourcesError, match=r"^--memory-per-task 20 GB"):
        validate_resources(parse_resources(memory_per_task="20G"), CLUSTER)
    with pytest.raises(InvalidResourcesError, match=r"^--queue gpu: no such queue") as e:
        validate_resources(parse_resources(queue="gpu"), CLUSTER)
    assert e.value.hint is not None and "main, short" in e.value.hint
    with pytest.raises(InvalidResourcesError) as e:
        validate_resources(parse_resources(queue="short", max_runtime="1h"), CLUSTER)
    assert e.value.message == (
        "--max-runtime 60 min is longer than the 10 min limit of queue 'short'"
    )
    with pytest.raises(InvalidResourcesError, match=r"^--node n9: no such node"):
        validate_resources(parse_resources(requested_nodes=["n9"]), CLUSTER)


def test_validation_fills_in_the_default_queue() -> None:
    assert validate_resources(parse_resources(cores=2), CLUSTER).queue == "main"
    assert validate_resources(parse_resources(cores="node"), CLUSTER).cores == "node"
