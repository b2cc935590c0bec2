"""The portal's wire format: how fields are encoded and how each answer is read.

Pure functions over text, kept apart from the HTTP client so each format can
be tested on its own. Parsers are strict about what they rely on (a submit
line, the nine tab-separated fields of a job listing) and tolerant of noise
around it; an answer they cannot read raises `UnreadableAnswerError`, which the
client treats as a transient fault and retries. What the job states mean is
in `states`.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple
from urllib.parse import urlencode

NO_ACCESS_TEXT = "You don't seem to have any HPC access"

_SUBMIT_LINE = re.compile(r"Job has been submitted\. ID: *(\d+)\.")
_CANCEL_LINE = re.compile(r"^\s*(\d+)\t(.*?)\s*$")
_RES_INPUT = re.compile(r"<input\b[^>]*\bid\s*=\s*[\"']res[\"'][^>]*>", re.IGNORECASE)
_VALUE_ATTR = re.compile(r"\bvalue\s*=\s*(?:\"([^\"]*)\"|'([^']*)')", re.IGNORECASE)
_LOGIN_FORM = re.compile(r"<input\b[^>]*\bname\s*=\s*[\"']?pw\b", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_HEAD_NODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_LOG_PREAMBLE = re.compile(r"^Output\s*:[ \t]*\r?\n(?:[ \t]*\r?\n)*")
_JOB_FIELDS = 9
_NODE_HEADER = re.compile(r"^\s*node\s+processor\s+state\b", re.IGNORECASE)
#: A row of the node table: `NAME - 5  TaskRunning 3489804 1 call ...` as HPC
#: Pack prints it (the ` - ` optional, for the layout the stand-in first served).
_NODE_ROW = re.compile(r"^\s*(\S+?)(?:\s+-)?\s+(\d+)\s+([A-Za-z]+)(?:\s+(\d+))?")
#: The two spellings of the software lists' keys, newer first.
_SOFTWARE_KEYS = {"windows": ("windows", "software"), "linux": ("linux", "linuxsoftware")}


class UnreadableAnswerError(Exception):
    """An answer that is not in the format the call promises."""


def b64(text: str) -> str:
    """A field value as the portal wants most of them: base64 of the UTF-8 text, padded."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def form_body(fields: Mapping[str, str]) -> bytes:
    """An url-encoded form body (`+`, `/` and `=` of base64 are percent-escaped)."""
    return urlencode(list(fields.items())).encode("ascii")


def page_text(text: str, limit: int = 300) -> str:
    """Readable text of an HTML answer, for an error message."""
    plain = " ".join(html.unescape(_TAG.sub(" ", text)).split())
    return plain if len(plain) <= limit else plain[: limit - 3] + "..."


def is_login_page(text: str) -> bool:
    """Whether the portal answered with its login form: the session has lapsed."""
    return bool(_LOGIN_FORM.search(text))


def is_no_access_page(text: str) -> bool:
    return NO_ACCESS_TEXT.lower() in text.lower()


def parse_head_nodes(text: str) -> list[str]:
    """`_listheadnodes.php`: one name per line; empty when the login failed."""
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if any(not _HEAD_NODE.fullmatch(name) for name in names):
        raise UnreadableAnswerError("the head node list is not a list of names")
    return names


def parse_submit(text: str) -> list[str]:
    """`submit_1.php`: the ids in `Job has been submitted. ID: N.` lines (noise ignored)."""
    return _SUBMIT_LINE.findall(text)


def parse_cancel(text: str) -> dict[str, str]:
    """`cancel.php`: `<id>\\t<result>` lines, e.g. `OK`, `WRONG_STATE`, `WRONG_USER.`."""
    result = {}
    for line in text.splitlines():
        match = _CANCEL_LINE.match(line)
        if match:
            result[match[1]] = match[2]
    return result


def parse_log_page(text: str) -> str | None:
    """`showjobfail.php`: the base64 log in `<input id="res" value=...>`, minus its preamble.

    A page without that input (the job is unknown, or its log expired) gives
    None; an answer that is not a page at all is garbage.
    """
    match = _RES_INPUT.search(text)
    if match is None:
        if "<html" in text.lower() or "<body" in text.lower():
            return None
        raise UnreadableAnswerError("the job log page has no log and is not a page")
    value = _VALUE_ATTR.search(match[0])
    if value is None:
        return None
    encoded = html.unescape(value[1] if value[1] is not None else value[2])
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        raise UnreadableAnswerError("the job log is not base64") from None
    return _LOG_PREAMBLE.sub("", decoded, count=1)


class JobRow(NamedTuple):
    """One line of `_listalljobs.php`; times are local `YYYYmmddHHMMSS` text as sent.

    The times come in the order start, submit, end (the only order the
    recorded answers fit); a time not yet known is empty.
    """

    id: str
    name: str
    state: str
    resources: str
    user: str
    start: str
    submitted: str
    end: str
    template: str


def parse_job_list(text: str) -> list[JobRow]:
    """`_listalljobs.php`: nine tab-separated fields per line; may be empty."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) < _JOB_FIELDS or not fields[0].strip().isdigit():
            raise UnreadableAnswerError("the job listing has a line that is not a job")
        rows.append(JobRow(*(f.strip() for f in fields[:_JOB_FIELDS])))
    return rows


SlotState = Literal["idle", "busy", "offline"]


class NodeSlot(NamedTuple):
    """One processor of one node in `shownodes.php`'s table (node names as printed)."""

    node: str
    processor: int
    state: SlotState
    job_id: str | None

    @property
    def busy(self) -> bool:
        return self.state == "busy"


def parse_node_table(text: str, head_node: str | None = None) -> list[NodeSlot]:
    """`shownodes.php`: a fixed-width table of node, processor, state, job id, task, command.

    A slot is busy when it runs a job (`TaskRunning`, or any state with a job
    id), idle when `Idle`, and offline otherwise (`Offline`, or a state not
    seen before). The head node's own rows are left out.
    """
    lines = [_TAG.sub("", line) for line in text.splitlines()]
    header = next((i for i, line in enumerate(lines) if _NODE_HEADER.match(line)), None)
    if header is None:
        raise UnreadableAnswerError("the node table has no header")
    slots = []
    for line in lines[header + 1 :]:
        match = _NODE_ROW.match(line)
        if match is None:
            continue
        node, processor, word, job_id = match.groups()
        if head_node is not None and node.lower() == head_node.lower():
            continue
        state: SlotState
        if job_id is not None or word.lower() in ("taskrunning", "busy", "running"):
            state = "busy"
        elif word.lower() == "idle":
            state = "idle"
        else:
            state = "offline"
        slots.append(NodeSlot(node, int(processor), state, job_id))
    return slots


def parse_software(text: str) -> dict[str, list[dict[str, Any]]]:
    """`api/v1/cluster_software/`: the software lists by platform, `windows` and `linux`.

    The lists are named `windows`/`linux` in newer answers and
    `software`/`linuxsoftware` in older ones; either pair is read.
    """
    try:
        value = json.loads(text)
    except ValueError:
        raise UnreadableAnswerError("the software list is not JSON") from None
    if not isinstance(value, dict):
        raise UnreadableAnswerError("the software list is not a JSON object")
    found: dict[str, list[dict[str, Any]]] = {}
    for platform, keys in _SOFTWARE_KEYS.items():
        lists = [value[key] for key in keys if key in value]
        if not lists or not isinstance(lists[0], list):
            raise UnreadableAnswerError(f"the software list has no {' or '.join(keys)} list")
        found[platform] = [entry for entry in lists[0] if isinstance(entry, dict)]
    return found
