"""Every resource field of a submission, as the portal's reference spells it."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

from hipercow_core.resources import resolve_hold_until
from hipercow_core.schema import HoldUntil, Resources
from hipercow_windows_hpc.submission import resource_fields, submit_fields

NOW = datetime(2024, 1, 3, 10, 0).astimezone()


def test_defaults_send_only_queue_and_cores() -> None:
    assert resource_fields(Resources(), "AllNodes", NOW) == {
        "template": "AllNodes",
        "rc": "1",
        "rt": "Cores",
    }


def test_every_resource_field() -> None:
    resources = Resources(
        cores=4,
        exclusive=True,
        max_runtime=90,
        hold_until=HoldUntil(kind="after", minutes=120),
        memory_per_node=16000,
        memory_per_task=512,
        requested_nodes=("wpia-001", "wpia-002"),
        priority="low",
        queue="Testing",
    )
    begin = resolve_hold_until(resources.hold_until, NOW) if resources.hold_until else None
    assert resource_fields(resources, "AllNodes", NOW, begin) == {
        "template": "Testing",
        "rc": "4",
        "rt": "Cores",
        "exc": "1",
        "mpn": "16000",
        "epm": "512",
        "rnt": "90",
        "hu": "120",
        "rn": "wpia-001,wpia-002",
        "pri": "low",
    }


def test_a_whole_node_is_one_node() -> None:
    fields = resource_fields(Resources(cores="node"), "LinuxNodes", NOW)
    assert (fields["rc"], fields["rt"]) == ("1", "Nodes")


def test_a_resolved_hold_is_minutes_from_the_submission() -> None:
    def minutes(hold: HoldUntil) -> str | None:
        begin = resolve_hold_until(hold, NOW)
        return resource_fields(Resources(hold_until=hold), "q", NOW, begin).get("hu")

    assert minutes(HoldUntil(kind="at", at=NOW + timedelta(minutes=30, seconds=20))) == "31"
    assert minutes(HoldUntil(kind="tonight")) == str(9 * 60)
    assert minutes(HoldUntil(kind="at", at=NOW - timedelta(minutes=5))) is None


def test_submit_fields_are_all_base64() -> None:
    fields = submit_fields(
        head_node="wpia-hn",
        command='call "\\\\s\\x\\run.bat"',
        workdir="",
        resources={"template": "AllNodes", "rc": "1", "rt": "Cores"},
        depends_on=["497979", "497980"],
    )
    decoded = {k: base64.b64decode(v).decode() for k, v in fields.items()}
    assert decoded == {
        "cluster": "wpia-hn",
        "wd": "",
        "se": "",
        "so": "",
        "jobs": 'call "\\\\s\\x\\run.bat"',
        "dep": "497979,497980",
        "template": "AllNodes",
        "rc": "1",
        "rt": "Cores",
    }
