"""The texts the portal answers with: HTML pages, submit lines, listings, tables.

Kept apart from the request handling so each answer's exact format is in one
place and can be compared with the reference at a glance. Where the reference
fixes a format (submit lines, the ``res`` input, tab-separated listings) it is
followed to the character; elsewhere the answers carry some noise so that a
client has to parse rather than compare whole bodies.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from .protocol import b64encode_text

NO_ACCESS_TEXT = "You don't seem to have any HPC access"
SUBMIT_LINE = "Job has been submitted. ID: {id}."

_HEAD = (
    '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
    "<title>DIDE HPC Web Portal</title>\n</head>\n<body>\n"
)
_TAIL = "</body>\n</html>\n"


def login_page(message: str = "") -> str:
    """The portal's front page with its login form (also what a lapsed session gets)."""
    note = f'<p class="note">{html.escape(message)}</p>\n' if message else ""
    return (
        _HEAD
        + "<h1>DIDE HPC Web Portal</h1>\n"
        + note
        + '<form method="post" action="index.php" id="loginform">\n'
        + "<p>Please log in with your DIDE user name and password.</p>\n"
        + '<label>User <input type="text" name="us"></label><br>\n'
        + '<label>Password <input type="password" name="pw"></label><br>\n'
        + '<input type="hidden" name="hpcfunc" value="login">\n'
        + '<input type="submit" value="Login">\n</form>\n'
        + _TAIL
    )


def welcome_page(user: str) -> str:
    """The page after a login attempt: the same whether the password was right or not."""
    return (
        _HEAD
        + "<h1>DIDE HPC Web Portal</h1>\n"
        + f"<p>Logged in as {html.escape(user)}.</p>\n"
        + '<div id="headnodes"></div>\n'
        + '<p><a href="logout.php">Log out</a></p>\n'
        + _TAIL
    )


def no_access_page(user: str) -> str:
    """The page a known user without HPC rights sees after logging in."""
    return (
        _HEAD
        + "<h1>DIDE HPC Web Portal</h1>\n"
        + f"<p>Hello {html.escape(user)}. {NO_ACCESS_TEXT}. "
        + "Please ask your group's HPC contact.</p>\n"
        + _TAIL
    )


def logout_page() -> str:
    """The page after logout (clients ignore it)."""
    return _HEAD + "<p>You have been logged out.</p>\n" + _TAIL


def submit_answer(ids: Sequence[int], head_node: str, template: str) -> str:
    """Submit's answer: one exact line per job, with noise lines around them."""
    lines = [
        "<html><body>",
        f"Submitting {len(ids)} job(s) to {head_node}, template {template}<br>",
        "",
    ]
    lines += [SUBMIT_LINE.format(id=job_id) for job_id in ids]
    lines += ["", "<br>Done.", "</body></html>", ""]
    return "\n".join(lines)


def submit_error(message: str) -> str:
    """What submit answers when it refuses: text that has no submit line in it."""
    return f"<html><body>\nError: the job was not submitted.\n{message}\n</body></html>\n"


def log_page(job_id: int, log: str | None) -> str:
    """showjobfail's page: the log base64-encoded in ``<input id="res">``.

    ``log`` None (unknown job, or log expired) yields the page without the input.
    """
    body = f"<h2>Job {job_id}</h2>\n"
    if log is None:
        body += "<p>No information about this job.</p>\n"
    else:
        value = b64encode_text("Output :\n\n" + log)
        body += f'<form>\n<input id="res" value="{value}">\n</form>\n'
    return _HEAD + body + _TAIL


def jobs_listing(rows: Iterable[Sequence[str]]) -> str:
    """_listalljobs' answer: one tab-separated line of nine fields per job."""
    lines = ["\t".join(row) for row in rows]
    return "".join(line + "\n" for line in lines)


def refused_page(status: int) -> str:
    """What a call without a live login gets from the real portal, with status 401 or 403."""
    title = "401 Unauthorized" if status == 401 else "403 Forbidden"
    return (
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n"
        f"<h1>{title.split(' ', 1)[1]}</h1>\n"
        "<p>You are not logged in to the DIDE HPC Web Portal, or your session has expired.</p>\n"
        "</body></html>\n"
    )


NodeRow = tuple[str, int, str, str, str, str]


def nodes_table(rows: Iterable[NodeRow]) -> str:
    """shownodes' table as HPC Pack prints it: `NAME - 5  TaskRunning 3489804 1 call ...`.

    Names are upper case and padded to the longest; the state is `Idle`,
    `TaskRunning` or `Offline`; job id, task id and command only for busy slots.
    """
    listed = list(rows)
    width = max((len(row[0]) for row in listed), default=4)
    header = (
        f"{'Node':<{width + 3}}{'Processor':<10}{'State':<12}{'Job ID':<9}{'Task ID':<8}CommandLine"
    )
    lines = [header]
    for node, proc, state, job_id, task_id, command in listed:
        line = f"{node.upper():<{width}} - {proc:<3}{state:<12}{job_id:<9}{task_id:<3}{command}"
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def legacy_nodes_table(rows: Iterable[NodeRow]) -> str:
    """The node table as this stand-in first served it (``legacy`` node_table mode)."""
    header = f"{'NODE':<16}{'PROCESSOR':<11}{'STATE':<7}{'JOB ID':<10}{'TASK ID':<9}COMMAND LINE"
    lines = [header, "-" * len(header)]
    for node, proc, state, job_id, task_id, command in rows:
        line = f"{node:<16}{proc:<11}{state:<7}{job_id:<10}{task_id:<9}{command}"
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def resources_text(count: int, kind: str) -> str:
    """A job's resources as the listing shows them, e.g. ``1 core``, ``4 cores``, ``1 node``."""
    unit = "node" if kind == "Nodes" else "core"
    return f"{count} {unit}" + ("" if count == 1 else "s")
