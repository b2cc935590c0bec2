"""Reading the portal's answers: exact where the format is fixed, tolerant of noise.

The answers here are shaped as the real portal's recorded ones are (written
from the facts in shared/reference/hpc-portal.md, not copied from anywhere):
HPC Pack's node table with upper-case names and the head node's own rows,
listings whose times are start, submit, end, CRLF lines, states beyond the five.
"""

from __future__ import annotations

import base64
import json

import pytest

from hipercow_core import outcomes
from hipercow_core.drivers.protocol import JobState
from hipercow_windows_hpc.states import has_ended, is_cancelled, job_state, normalise_state
from hipercow_windows_hpc.wire import (
    JobRow,
    NodeSlot,
    UnreadableAnswerError,
    b64,
    form_body,
    is_login_page,
    is_no_access_page,
    parse_cancel,
    parse_head_nodes,
    parse_job_list,
    parse_log_page,
    parse_node_table,
    parse_software,
    parse_submit,
)


def test_fields_are_base64_and_url_escaped() -> None:
    assert b64("login") == "bG9naW4="
    assert form_body({"pw": b64("p~~~>?ss"), "hpcfunc": "submit"}) == (
        b"pw=cH5%2Bfj4%2Fc3M%3D&hpcfunc=submit"
    )


def test_submit_answer_among_noise() -> None:
    text = (
        "<html><body>\nSubmitting 1 job(s) to wpia-hn, template AllNodes<br>\n\n"
        "Job has been submitted. ID: 497979.\n\n<br>Done.\n</body></html>\n"
    )
    assert parse_submit(text) == ["497979"]
    assert parse_submit("Error: the job was not submitted.\n") == []
    # The real answer: the one line, in a page, with Windows line ends.
    real = "<html>\r\n<body>\r\nJob has been submitted. ID: 3489804.<br>\r\n</body></html>\r\n"
    assert parse_submit(real) == ["3489804"]


def test_cancel_answer() -> None:
    assert parse_cancel("497979\tOK\n497980\tWRONG_STATE\n497981\tWRONG_USER.\nnoise\n") == {
        "497979": "OK",
        "497980": "WRONG_STATE",
        "497981": "WRONG_USER.",
    }
    assert parse_cancel("3489805\tOK\r\n3489804\tWRONG_STATE\r\n") == {
        "3489805": "OK",
        "3489804": "WRONG_STATE",
    }


def test_log_page_drops_the_output_preamble() -> None:
    value = base64.b64encode(b"Output :\n\n\nline one\nline two\n").decode()
    page = f'<html><body><h2>Job 1</h2>\n<form>\n<input id="res" value="{value}">\n</form></body></html>'
    assert parse_log_page(page) == "line one\nline two\n"
    empty = base64.b64encode(b"Output :\n\n").decode()
    assert parse_log_page(f"<html><input type='text' id='res' value='{empty}'></html>") == ""
    assert parse_log_page("<html><body><p>No information about this job.</p></body></html>") is None
    # Windows line ends in the log, the input's attributes in another order.
    crlf = base64.b64encode(b"Output :\r\n\r\n\r\nhipercow: task abc on WPIA-001\r\n").decode()
    page = f'<html><body><form><input type="text" value="{crlf}" id="res" size="80"></form></body>'
    assert parse_log_page(page) == "hipercow: task abc on WPIA-001\r\n"
    with pytest.raises(UnreadableAnswerError):
        parse_log_page("\x07\x01 not a page")


def test_job_listing_times_are_start_submit_end() -> None:
    text = (
        "3489806\t\tQueued\t1 core\tDIDE\\bob\t\t20240105103000\t\tAllNodes\r\n"
        "3489805\tabc\tRunning\t4 cores\tDIDE\\bob\t20240105103010\t20240105103000\t\tAllNodes\r\n"
        "3489804\tdef\tCancelled\t1 node\tDIDE\\bob\t20240105103001\t20240105103000"
        "\t20240105103002\tLinuxNodes\r\n"
    )
    queued, running, cancelled = parse_job_list(text)
    assert queued == JobRow(
        "3489806", "", "Queued", "1 core", "DIDE\\bob", "", "20240105103000", "", "AllNodes"
    )
    assert (running.start, running.submitted, running.end) == (
        "20240105103010",
        "20240105103000",
        "",
    )
    assert (cancelled.start, cancelled.submitted, cancelled.end) == (
        "20240105103001",
        "20240105103000",
        "20240105103002",
    )
    assert normalise_state(cancelled.state) == "Canceled"
    assert parse_job_list("") == []
    with pytest.raises(UnreadableAnswerError):
        parse_job_list("<html>Please log in</html>\n")


def test_states_beyond_the_five_mean_still_there() -> None:
    for passing in ("Configuring", "Submitted", "Validating", "Finishing", "Canceling", "Exploded"):
        assert normalise_state(passing) is None
        assert job_state("1", passing).kind == "active"
    assert job_state("1", "Running") == JobState.active()
    assert job_state("1", "Queued") == JobState.active(waiting="Queued on the portal")
    assert job_state("1", "Validating") == JobState.active(waiting="Validating on the portal")
    assert job_state("7", None) == JobState.unknown("the portal no longer knows job 7")
    assert job_state("7", "Cancelled") == JobState.ended(
        outcomes.cancelled(), "the portal reports job 7 Canceled"
    )
    assert job_state("7", "Failed").outcome == outcomes.failure(outcomes.JOB_FAILED)
    assert job_state("7", "Finished").outcome == outcomes.failure(outcomes.LOST)
    assert is_cancelled("Canceling") and is_cancelled("Canceled") and not is_cancelled("Queued")
    assert has_ended("Finished") and has_ended("Canceling") and not has_ended("Validating")


def test_head_nodes() -> None:
    assert parse_head_nodes("wpia-hn\n") == ["wpia-hn"]
    assert parse_head_nodes("") == []
    with pytest.raises(UnreadableAnswerError):
        parse_head_nodes("<html><body>oops</body></html>")


#: HPC Pack's node table as the portal prints it: upper-case names, ` - `,
#: padded columns, the head node's own rows, busy slots with job, task, command.
HPC_PACK_NODES = (
    "Node                  Processor State       Job ID  Task ID CommandLine\r\n"
    "WPIA-HN          - 0  Idle\r\n"
    "WPIA-HN          - 1  Idle\r\n"
    'FI--DIDECLUST03  - 5  TaskRunning 3489804 1  call "\\\\fi--didef3\\tmp\\run.bat"\r\n'
    "FI--DIDECLUST03  - 6  Idle\r\n"
    "WPIA-001         - 0  TaskRunning 3489805 1  bash /mnt/cluster/p/run.sh\r\n"
    "WPIA-001         - 1  TaskRunning 3489805 1  bash /mnt/cluster/p/run.sh\r\n"
    "WPIA-002         - 0  Idle\r\n"
    "WPIA-003         - 0  Offline\r\n"
    "WPIA-003         - 1  Offline\r\n"
)


def test_node_table_as_hpc_pack_prints_it() -> None:
    slots = parse_node_table(HPC_PACK_NODES, head_node="wpia-hn")
    assert slots == [
        NodeSlot("FI--DIDECLUST03", 5, "busy", "3489804"),
        NodeSlot("FI--DIDECLUST03", 6, "idle", None),
        NodeSlot("WPIA-001", 0, "busy", "3489805"),
        NodeSlot("WPIA-001", 1, "busy", "3489805"),
        NodeSlot("WPIA-002", 0, "idle", None),
        NodeSlot("WPIA-003", 0, "offline", None),
        NodeSlot("WPIA-003", 1, "offline", None),
    ]
    assert len(parse_node_table(HPC_PACK_NODES)) == 9, "the head node's rows are rows too"
    wrapped = "<html><body><pre>\n" + HPC_PACK_NODES + "</pre></body></html>"
    assert parse_node_table(wrapped, head_node="wpia-hn") == slots
    with pytest.raises(UnreadableAnswerError):
        parse_node_table("garbage")


def test_every_row_of_a_full_size_table_is_read() -> None:
    """A table the size of the recorded one: 7 machines of 32 processors, the head node first."""
    names = ["WPIA-HN", *(f"WPIA-{n:03d}" for n in range(1, 7))]
    lines = ["Node             Processor State       Job ID  Task ID CommandLine"]
    for name in names:
        for proc in range(32):
            if name == "WPIA-003":
                lines.append(f"{name:<16} - {proc:<3}Offline")
            elif proc < 8 and name != "WPIA-HN":
                lines.append(f"{name:<16} - {proc:<3}TaskRunning {4000 + proc} 1  call x.bat")
            else:
                lines.append(f"{name:<16} - {proc:<3}Idle")
    text = "\r\n".join(lines) + "\r\n"
    assert len(lines) - 1 == 224
    assert len(parse_node_table(text)) == 224
    slots = parse_node_table(text, head_node="wpia-hn")
    assert len(slots) == 192
    assert sum(slot.busy for slot in slots) == 5 * 8
    assert sum(slot.state == "offline" for slot in slots) == 32


def test_node_table_as_the_stand_in_first_served_it() -> None:
    text = (
        "NODE            PROCESSOR  STATE  JOB ID    TASK ID  COMMAND LINE\n"
        "-----------------------------------------------------------------\n"
        'wpia-001        0          Busy   497979    1        call "\\\\x\\y\\run.bat"\n'
        "wpia-001        1          Idle\n"
    )
    assert parse_node_table(text) == [
        NodeSlot("wpia-001", 0, "busy", "497979"),
        NodeSlot("wpia-001", 1, "idle", None),
    ]


def test_software_lists_under_either_pair_of_keys() -> None:
    python = {"name": "python", "version": "3.12.4", "module": "Python/3.12.4"}
    newer = '{"windows": [{"name": "R", "version": "4.4.1"}], "linux": [%s]}'
    older = '{"software": [{"name": "R", "version": "4.4.1"}], "linuxsoftware": [%s]}'
    for text in (newer, older):
        found = parse_software(text % json.dumps(python))
        assert found == {"windows": [{"name": "R", "version": "4.4.1"}], "linux": [python]}
    with pytest.raises(UnreadableAnswerError):
        parse_software('{"windows": []}')
    with pytest.raises(UnreadableAnswerError):
        parse_software("<html>")


def test_login_and_no_access_pages() -> None:
    login = '<form method="post" action="index.php"><input type="password" name="pw"></form>'
    assert is_login_page(login)
    assert not is_login_page("Job has been submitted. ID: 1.")
    assert is_no_access_page("Hello bob. You don't seem to have any HPC access.")
