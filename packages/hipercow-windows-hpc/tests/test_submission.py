"""Every resource field of a submission, as the portal's reference spells it."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

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
    assert resource_fields(resources, "AllNodes", NOW) == {
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


def test_hold_until_is_minutes_from_the_submission() -> None:
    at = HoldUntil(kind="at", at=NOW + timedelta(minutes=30, seconds=20))
    assert resource_fields(Resources(hold_until=at), "q", NOW)["hu"] == "31"
    tonight = resource_fields(Resources(hold_until=HoldUntil(kind="tonight")), "q", NOW)
    assert tonight["hu"] == str(9 * 60)
    past = HoldUntil(kind="at", at=NOW - timedelta(minutes=5))
    assert "hu" not in resource_fields(Resources(hold_until=past), "q", NOW)


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
