"""Reading the portal's answers: exact where the format is fixed, tolerant of noise."""

from __future__ import annotations

import base64

import pytest

from hipercow_windows_hpc.wire import (
    JobRow,
    NodeSlot,
    UnreadableAnswerError,
    b64,
    form_body,
    is_login_page,
    is_no_access_page,
    normalise_state,
    parse_cancel,
    parse_head_nodes,
    parse_job_list,
    parse_log_page,
    parse_node_table,
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


def test_cancel_answer() -> None:
    assert parse_cancel("497979\tOK\n497980\tWRONG_STATE\n497981\tWRONG_USER.\nnoise\n") == {
        "497979": "OK",
        "497980": "WRONG_STATE",
        "497981": "WRONG_USER.",
    }


def test_log_page_drops_the_output_preamble() -> None:
    value = base64.b64encode(b"Output :\n\n\nline one\nline two\n").decode()
    page = f'<html><body><h2>Job 1</h2>\n<form>\n<input id="res" value="{value}">\n</form></body></html>'
    assert parse_log_page(page) == "line one\nline two\n"
    empty = base64.b64encode(b"Output :\n\n").decode()
    assert parse_log_page(f"<html><input type='text' id='res' value='{empty}'></html>") == ""
    assert parse_log_page("<html><body><p>No information about this job.</p></body></html>") is None
    with pytest.raises(UnreadableAnswerError):
        parse_log_page("\x07\x01 not a page")


def test_job_listing_with_empty_times() -> None:
    text = (
        "497980\tabc\tQueued\t1 core\tDIDE\\bob\t\t\t20240105103000\tAllNodes\n"
        "497979\tdef\tCancelled\t1 node\tDIDE\\bob\t20240105103001\t20240105103002\t20240105103000\tLinuxNodes\n"
    )
    rows = parse_job_list(text)
    assert rows[0] == JobRow(
        "497980", "abc", "Queued", "1 core", "DIDE\\bob", "", "", "20240105103000", "AllNodes"
    )
    assert normalise_state(rows[1].state) == "Canceled"
    assert normalise_state("Exploded") is None
    assert parse_job_list("") == []
    with pytest.raises(UnreadableAnswerError):
        parse_job_list("<html>Please log in</html>\n")


def test_head_nodes() -> None:
    assert parse_head_nodes("wpia-hn\n") == ["wpia-hn"]
    assert parse_head_nodes("") == []
    with pytest.raises(UnreadableAnswerError):
        parse_head_nodes("<html><body>oops</body></html>")


def test_node_table() -> None:
    text = (
        "NODE            PROCESSOR  STATE  JOB ID    TASK ID  COMMAND LINE\n"
        "-----------------------------------------------------------------\n"
        'wpia-001        0          Busy   497979    1        call "\\\\x\\y\\run.bat"\n'
        "wpia-001        1          Idle\n"
    )
    assert parse_node_table(text) == [
        NodeSlot("wpia-001", 0, True, "497979"),
        NodeSlot("wpia-001", 1, False, None),
    ]
    with pytest.raises(UnreadableAnswerError):
        parse_node_table("garbage")


def test_login_and_no_access_pages() -> None:
    login = '<form method="post" action="index.php"><input type="password" name="pw"></form>'
    assert is_login_page(login)
    assert not is_login_page("Job has been submitted. ID: 1.")
    assert is_no_access_page("Hello bob. You don't seem to have any HPC access.")
