"""The portal's behaviour: one method per call of the reference, plus control calls.

Everything here works on plain :class:`Request`/:class:`Response` values so the
protocol logic stays apart from the HTTP plumbing in :mod:`.server`. Strictness
policy: a request a correct client would never send (wrong encoding, missing or
unexpected field, wrong method, stray query) is refused with HTTP 400 and the
reason, and noted as ``error`` in the call log; submit instead answers 200 with
an error text (no submit line), as the reference says any non-matching answer
is a failure. Calls that need a login answer HTTP 401 or 403 when the session
is missing or lapsed, as the real portal does (or, in the older ``login-page``
sessions mode, the login page with status 200).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from . import pages
from .calls import MASKED, CallLog, CallRecord
from .config import NODE_OSES, PortalConfig
from .faults import FaultBook
from .jobs import JobRequest, JobStore
from .protocol import (
    FORM_SPECS,
    PASSING_STATES,
    STATES,
    ProtocolError,
    decode_form,
    format_time,
    parse_form,
    parse_hold_until,
    parse_positive_int,
)
from .sessions import COOKIE_NAME, Session, SessionStore

CONTROL_PREFIX = "/_standin/"
HTML = "text/html; charset=UTF-8"
TEXT = "text/plain; charset=UTF-8"
JSON = "application/json"


@dataclass
class Request:
    """An HTTP request as the portal logic needs it (header names lower-case)."""

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def cookie(self, name: str) -> str | None:
        """The value of one cookie sent with the request."""
        for part in self.headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return None


@dataclass
class Response:
    """What to answer; ``drop`` means close the connection without answering."""

    status: int = 200
    body: bytes = b""
    content_type: str = HTML
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = HTML) -> Response:
        """A response with a text body."""
        return cls(status=status, body=text.encode("utf-8"), content_type=content_type)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        """A JSON response."""
        return cls(status=status, body=json.dumps(data).encode("utf-8"), content_type=JSON)


class _AnswerNowError(Exception):
    """Answer at once with this response (a lapsed session, say)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass
class _Call:
    """One call in progress: the request and its log record."""

    request: Request
    record: CallRecord
    path: str


_CLUSTER_INFO = re.compile(r"api/v1/cluster_info/([^/]+)/([^/]+)/")


class Portal:
    """The stand-in portal's state and behaviour (sessions, jobs, calls, faults)."""

    def __init__(
        self, config: PortalConfig, scratch: Path, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.clock = clock
        self.sessions = SessionStore(config.session_ttl, clock)
        self.jobs = JobStore(config, scratch, clock)
        self.calls = CallLog()
        self.faults = FaultBook()
        self._routes: dict[str, tuple[str, Callable[[_Call], Response]]] = {
            "": ("GET", self._front_page),
            "index.php": ("GET POST", self._index),
            "logout.php": ("GET", self._logout),
            "_listheadnodes.php": ("POST", self._list_head_nodes),
            "submit_1.php": ("POST", self._submit),
            "cancel.php": ("POST", self._cancel),
            "showjobfail.php": ("POST", self._show_job_fail),
            "_listalljobs.php": ("POST", self._list_all_jobs),
            "shownodes.php": ("POST", self._show_nodes),
            "api/v1/get_job_status/": ("GET", self._job_status),
            "api/v1/cluster_software/": ("GET", self._cluster_software),
        }

    def close(self) -> None:
        """Stop the scheduler and kill every job process."""
        self.jobs.close()

    def reset(self) -> None:
        """Back to a fresh portal: no jobs, sessions, calls or faults; ids restart."""
        self.jobs.reset()
        self.sessions.expire_all()
        self.calls.clear()
        self.faults.clear()

    # -- entry point ---------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one HTTP request (protocol or control)."""
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)
        base = self.config.base_path
        inside = request.path.startswith(base) or request.path == base.rstrip("/")
        path = request.path[len(base) :] if inside else request.path
        record = self.calls.new(self.clock(), request.method, path)
        record.query = dict(parse_qsl(request.query, keep_blank_values=True))
        record.accept = request.headers.get("accept")
        record.content_type = request.headers.get("content-type")
        session_id = request.cookie(COOKIE_NAME)
        session = self.sessions.peek(session_id)
        if session is not None:
            record.session = session.id
            record.user = session.user
        call = _Call(request, record, path)

        fault = self.faults.take(path)
        if fault is not None:
            record.fault = fault.kind
        if fault is not None and fault.kind == "lapse":
            # Every session has lapsed by the time this call is answered, whatever the clock.
            self.sessions.expire_all()
            fault = None
        if fault is not None and fault.kind == "slow" and not fault.after:
            time.sleep(fault.delay)
        if fault is not None and fault.kind != "slow" and not fault.after:
            response = self._fault_response(fault.kind)
        else:
            response = self._dispatch(call, inside)
            if fault is not None and fault.kind == "slow":
                if fault.after:
                    time.sleep(fault.delay)
            elif fault is not None:
                response = self._fault_response(fault.kind)
        record.status = None if response.drop else response.status
        return response

    @staticmethod
    def _fault_response(kind: str) -> Response:
        if kind == "500":
            return Response.text(
                "<html><head><title>500 Internal Server Error</title></head><body>\n"
                "<h1>Internal Server Error</h1>\n</body></html>\n",
                status=500,
            )
        if kind == "garbage":
            size = 32 + int.from_bytes(os.urandom(2), "big") % 480
            return Response(status=200, body=os.urandom(size), content_type=HTML)
        return Response(drop=True)

    def _dispatch(self, call: _Call, inside: bool) -> Response:
        path = call.path
        route = self._routes.get(path) if inside else None
        handler: Callable[[_Call], Response] | None = None
        methods = ""
        if route is not None:
            methods, handler = route
        elif inside and _CLUSTER_INFO.fullmatch(path):
            methods, handler = "GET", self._cluster_info
        if handler is None:
            hint = ""
            if inside and path.startswith("api/") and not path.endswith("/"):
                hint = " (API paths end with '/')"
            return self._refuse(call, f"no such page {call.request.path!r}{hint}", 404)
        if call.request.method not in methods.split():
            response = self._refuse(
                call, f"{path} takes {methods.replace(' ', ' or ')}, not {call.request.method}", 405
            )
            response.headers.append(("Allow", methods.replace(" ", ", ")))
            return response
        try:
            return handler(call)
        except _AnswerNowError as refusal:
            return refusal.response
        except ProtocolError as exc:
            if path == "submit_1.php":
                call.record.error = str(exc)
                return Response.text(pages.submit_error(str(exc)))
            return self._refuse(call, str(exc), 400)

    @staticmethod
    def _refuse(call: _Call, message: str, status: int) -> Response:
        call.record.error = message
        return Response.text(f"stand-in portal: {message}\n", status=status, content_type=TEXT)

    # -- helpers -------------------------------------------------------------

    def _form(self, call: _Call) -> dict[str, str]:
        """Parse and decode the call's form by its spec, logging it; raise on any problem."""
        request = call.request
        if request.query:
            raise ProtocolError(f"{call.path} takes no query string, got {request.query!r}")
        form = parse_form(request.body, request.headers.get("content-type"))
        decoded = decode_form(form, FORM_SPECS[call.path])
        call.record.raw_fields = dict(form)
        call.record.fields = dict(decoded.fields)
        if "pw" in form:
            call.record.raw_fields["pw"] = MASKED
            call.record.fields["pw"] = MASKED
        if decoded.problems:
            raise ProtocolError("; ".join(decoded.problems))
        return decoded.fields

    @staticmethod
    def _expect(fields: Mapping[str, str], name: str, value: str, how: str) -> None:
        if fields[name] != value:
            raise ProtocolError(f"field {name!r} must be {how}, got {fields[name]!r}")

    def _check_cluster(self, fields: Mapping[str, str], name: str = "cluster") -> None:
        if fields[name] != self.config.head_node:
            raise ProtocolError(
                f"field {name!r} names an unknown head node {fields[name]!r}"
                f" (this portal has {self.config.head_node!r})"
            )

    def _not_logged_in(self) -> Response:
        """The answer to a call without a live login, as the sessions mode says."""
        status = self.config.modes.session_status
        if status is None:
            return Response.text(pages.login_page("Please log in."))
        return Response.text(pages.refused_page(status), status=status)

    def _session(self, call: _Call) -> Session:
        """The logged-in session with HPC access, or refuse as the portal would."""
        session = self.sessions.get(call.request.cookie(COOKIE_NAME))
        if session is None or session.user is None:
            call.record.outcome = "not-logged-in"
            raise _AnswerNowError(self._not_logged_in())
        if not session.access:
            call.record.outcome = "no-access"
            raise _AnswerNowError(Response.text(pages.no_access_page(session.user)))
        return session

    # -- protocol calls ------------------------------------------------------

    def _front_page(self, call: _Call) -> Response:
        del call
        return Response.text(pages.login_page())

    def _index(self, call: _Call) -> Response:
        if call.request.method == "GET":
            if call.request.query:
                raise ProtocolError("index.php takes no query string")
            return Response.text(pages.login_page())
        fields = self._form(call)
        self._expect(fields, "hpcfunc", "login", 'base64 of "login"')
        user, password = fields["us"], fields["pw"]
        account = self.config.users.get(user)
        if account is not None and account.password == password:
            session = self.sessions.create(user, account.access)
            call.record.outcome = "ok" if account.access else "no-access"
            body = pages.welcome_page(user) if account.access else pages.no_access_page(user)
        else:
            call.record.outcome = "unknown-user" if account is None else "wrong-password"
            status = self.config.modes.session_status
            if status is not None:
                return Response.text(pages.refused_page(status), status=status)
            # The older portal did not say: the failure showed as no head nodes.
            session = self.sessions.create(None, False)
            body = pages.welcome_page(user)
        call.record.session = session.id
        call.record.user = session.user
        response = Response.text(body)
        response.headers += [
            ("Set-Cookie", f"{COOKIE_NAME}={session.id}; path=/"),
            ("Cache-Control", "no-store, no-cache, must-revalidate"),
        ]
        return response

    def _logout(self, call: _Call) -> Response:
        self.sessions.destroy(call.request.cookie(COOKIE_NAME))
        call.record.outcome = "logged-out"
        response = Response.text(pages.logout_page())
        response.headers.append(
            ("Set-Cookie", f"{COOKIE_NAME}=deleted; expires=Thu, 01 Jan 1970 00:00:01 GMT; path=/")
        )
        return response

    def _list_head_nodes(self, call: _Call) -> Response:
        fields = self._form(call)
        self._expect(fields, "user", "", "base64 of the empty string")
        session = self.sessions.get(call.request.cookie(COOKIE_NAME))
        logged_in = session is not None and session.user is not None
        if not logged_in and self.config.modes.session_status is not None:
            call.record.outcome = "not-logged-in"
            return self._not_logged_in()
        if session is None or not session.authorised:
            call.record.outcome = "empty"
            return Response.text("")
        return Response.text(self.config.head_node + "\n")

    def _submit(self, call: _Call) -> Response:
        fields = self._form(call)
        self._expect(fields, "hpcfunc", "submit", '"submit" (plain, not base64)')
        session = self._session(call)
        assert session.user is not None
        requests = self._job_requests(fields, session.user)
        ids = self.jobs.submit(requests)
        call.record.outcome = "submitted " + ",".join(str(i) for i in ids)
        return Response.text(pages.submit_answer(ids, fields["cluster"], fields["template"]))

    def _job_requests(self, fields: Mapping[str, str], user: str) -> list[JobRequest]:
        """Validate a submit's decoded fields; one request per line of ``jobs``."""
        self._check_cluster(fields)
        template = fields["template"]
        node_os = self.config.queue_os(template)
        if node_os is None:
            raise ProtocolError(f"unknown template (queue) {template!r}")
        name = fields["jn"]
        if not name or any(c in name for c in "\t\r\n"):
            raise ProtocolError(f"job name 'jn' must be non-empty, one line, no tabs: {name!r}")
        workdir = fields["wd"]
        if node_os == "windows" and workdir:
            raise ProtocolError(f"'wd' must be empty for a Windows queue, got {workdir!r}")
        if node_os == "linux" and workdir and not workdir.startswith("/"):
            raise ProtocolError(f"'wd' must be an absolute Linux path, got {workdir!r}")
        for stream in ("se", "so"):
            if fields[stream]:
                raise ProtocolError(f"field {stream!r} must be base64 of the empty string")
        if not fields["ver"].strip():
            raise ProtocolError("field 'ver' (client name/version) must not be empty")
        commands = fields["jobs"].split("\n")
        if not commands or any(not line.strip() or "\r" in line for line in commands):
            raise ProtocolError("'jobs' must be one command per line, no blank lines or CR")
        deps: list[int] = []
        if fields["dep"]:
            if not re.fullmatch(r"[0-9]+(,[0-9]+)*", fields["dep"]):
                raise ProtocolError(f"'dep' must be comma-joined job ids, got {fields['dep']!r}")
            deps = [int(d) for d in fields["dep"].split(",")]
            missing = [d for d in deps if not self.jobs.exists(d)]
            if missing:
                raise ProtocolError(f"'dep' names unknown jobs {missing}")

        resources, extra = self._resources(fields, node_os)
        return [
            JobRequest(
                user=user,
                name=name,
                template=template,
                node_os=node_os,
                command=command,
                workdir=workdir,
                deps=deps,
                resources=dict(resources),
                **extra,
            )
            for command in commands
        ]

    def _resources(
        self, fields: Mapping[str, str], node_os: str
    ) -> tuple[dict[str, str], dict[str, Any]]:
        """Validate submit's resource fields: (the fields as sent, JobRequest arguments)."""
        info = self.config.cluster_info(node_os)
        cores = parse_positive_int(fields["rc"], "rc")
        resource_type = fields["rt"]
        if resource_type == "Cores":
            if cores > info["max_cores"]:
                raise ProtocolError(f"'rc' {cores} exceeds the {info['max_cores']} cores of a node")
        elif resource_type == "Nodes":
            if cores > len(info["nodes"]):
                raise ProtocolError(f"'rc' asks for {cores} nodes, there are {len(info['nodes'])}")
        else:
            raise ProtocolError(f"'rt' must be 'Cores' or 'Nodes', got {resource_type!r}")
        resources = {"rc": fields["rc"], "rt": resource_type}
        if "exc" in fields:
            self._expect(fields, "exc", "1", "1")
            resources["exc"] = "1"
        max_mb = int(info["max_ram"]) * 1000
        for key in ("mpn", "epm"):
            if key in fields:
                megabytes = parse_positive_int(fields[key], key)
                if megabytes > max_mb:
                    raise ProtocolError(f"{key!r} {megabytes} MB exceeds the nodes' {max_mb} MB")
                resources[key] = fields[key]
        max_runtime: float | None = None
        if "rnt" in fields:
            max_runtime = 60.0 * parse_positive_int(fields["rnt"], "rnt")
            resources["rnt"] = fields["rnt"]
        hold_until: float | None = None
        if "hu" in fields:
            hold_until = parse_hold_until(fields["hu"], self.clock())
            resources["hu"] = fields["hu"]
        requested: list[str] = []
        if "rn" in fields:
            requested = fields["rn"].split(",")
            unknown = [n for n in requested if n not in info["nodes"]]
            if not fields["rn"] or unknown:
                raise ProtocolError(
                    f"'rn' must name {node_os} nodes {info['nodes']}, got {fields['rn']!r}"
                )
            resources["rn"] = fields["rn"]
        if "pri" in fields:
            if fields["pri"] not in ("low", "normal"):
                raise ProtocolError(f"'pri' must be 'low' or 'normal', got {fields['pri']!r}")
            resources["pri"] = fields["pri"]
        extra: dict[str, Any] = {
            "cores": cores,
            "resource_type": resource_type,
            "hold_until": hold_until,
            "max_runtime": max_runtime,
            "requested_nodes": requested,
        }
        return resources, extra

    def _cancel(self, call: _Call) -> Response:
        fields = self._form(call)
        self._expect(fields, "hpcfunc", "cancel", 'base64 of "cancel"')
        self._check_cluster(fields)
        ids: list[int] = []
        for name, value in fields.items():
            if name in ("cluster", "hpcfunc"):
                continue
            match = re.fullmatch(r"c([0-9]+)", name)
            if match is None or value != match.group(1):
                raise ProtocolError(f"cancel fields are c<id>=<id> (plain), got {name!r}={value!r}")
            ids.append(int(value))
        if not ids:
            raise ProtocolError("cancel needs at least one c<id> field")
        session = self._session(call)
        assert session.user is not None
        results = [(job_id, self.jobs.cancel(job_id, session.user)) for job_id in ids]
        call.record.outcome = ",".join(f"{i}:{r}" for i, r in results)
        # The real portal answers only when the cancellation is done, which can
        # take a long while; the jobs show Canceling meanwhile.
        delay = self.jobs.cancel_seconds
        if delay > 0 and any(result == "OK" for _, result in results):
            time.sleep(delay)
        return Response.text("".join(f"{i}\t{r}\n" for i, r in results))

    def _show_job_fail(self, call: _Call) -> Response:
        fields = self._form(call)
        self._expect(fields, "hpcfunc", "showfail", '"showfail" (plain, not base64)')
        self._check_cluster(fields)
        job_id = parse_positive_int(fields["id"], "id")
        self._session(call)
        job = self.jobs.job(job_id)
        with self.jobs.lock:
            log = job.log if job is not None else None
        return Response.text(pages.log_page(job_id, log))

    def _list_all_jobs(self, call: _Call) -> Response:
        fields = self._form(call)
        user = fields["user"]
        if not user or "\\" in user or " " in user:
            raise ProtocolError(f"'user' must be a bare user name (no domain), got {user!r}")
        self._check_cluster(fields, "scheduler")
        state = fields["state"]
        if state != "*" and state not in STATES + PASSING_STATES:
            raise ProtocolError(f"'state' must be '*' or one of {STATES}, got {state!r}")
        jobs = fields["jobs"]
        limit = -1 if jobs == "-1" else parse_positive_int(jobs, "jobs")
        self._session(call)
        rows = []
        now = self.clock()
        with self.jobs.lock:
            for job in self.jobs.jobs_of(user, state, limit):
                req = job.request
                times = {
                    "start": format_time(job.start_time),
                    "submit": format_time(job.submit_time),
                    "end": format_time(job.end_time),
                }
                order = self.config.modes.listing_times.split(",")
                rows.append(
                    (
                        str(job.id),
                        req.name,
                        job.shown_state(now),
                        pages.resources_text(req.cores, req.resource_type),
                        f"{self.config.domain}\\{req.user}",
                        *(times[name] for name in order),
                        req.template,
                    )
                )
        return Response.text(pages.jobs_listing(rows))

    def _show_nodes(self, call: _Call) -> Response:
        fields = self._form(call)
        self._expect(fields, "hpcfunc", "shownodes", '"shownodes" (plain, not base64)')
        self._check_cluster(fields)
        legacy = self.config.modes.node_table == "legacy"
        if legacy:
            parse_positive_int(fields["cluster_no"], "cluster_no", allow_zero=True)
        elif fields["cluster_no"] != "1":
            raise ProtocolError(
                "'cluster_no' must be the head node's position in the head node list, "
                f"counting from 1 (here '1'), got {fields['cluster_no']!r}"
            )
        self._session(call)
        busy: dict[tuple[str, int], tuple[str, str]] = {}
        with self.jobs.lock:
            running = self.jobs.running()
            for node_os in NODE_OSES:
                info = self.config.cluster_info(node_os)
                per_node = int(info["max_cores"])
                for job in (j for j in running if j.request.node_os == node_os):
                    req = job.request
                    want = req.cores * per_node if req.resource_type == "Nodes" else req.cores
                    if "exc" in req.resources:
                        want = max(want, per_node)
                    for node in req.requested_nodes or info["nodes"]:
                        for proc in range(per_node):
                            if want and (node, proc) not in busy:
                                busy[(node, proc)] = (str(job.id), req.command)
                                want -= 1
        rows = []
        if not legacy:
            rows += [(self.config.head_node, proc, "Idle", "", "", "") for proc in range(4)]
        for node_os in NODE_OSES:
            info = self.config.cluster_info(node_os)
            for node in info["nodes"]:
                for proc in range(int(info["max_cores"])):
                    job_id, command = busy.get((node, proc), ("", ""))
                    if node in self.config.offline_nodes:
                        state = "Offline"
                    elif job_id:
                        state = "Busy" if legacy else "TaskRunning"
                    else:
                        state = "Idle"
                    rows.append((node, proc, state, job_id, "1" if job_id else "", command))
        if legacy:
            return Response.text(pages.legacy_nodes_table(rows))
        return Response.text(pages.nodes_table(rows))

    def _job_status(self, call: _Call) -> Response:
        try:
            pairs = parse_qsl(call.request.query, keep_blank_values=True, strict_parsing=True)
        except ValueError as exc:
            raise ProtocolError(f"malformed query: {exc}") from None
        query = dict(pairs)
        if len(query) != len(pairs) or set(query) != {"scheduler", "jobid"}:
            raise ProtocolError("get_job_status takes exactly ?scheduler=<head node>&jobid=<id>")
        call.record.fields = dict(query)
        self._check_cluster(query, "scheduler")
        job_id = parse_positive_int(query["jobid"], "jobid")
        self._session(call)
        job = self.jobs.get(job_id)
        if job is None:
            return self._refuse(call, f"no job {job_id}", 404)
        return Response.text(str(job["shown_state"]), content_type=TEXT)

    def _no_query(self, call: _Call) -> None:
        if call.request.query:
            raise ProtocolError(f"{call.path} takes no query string")

    def _cluster_info(self, call: _Call) -> Response:
        self._no_query(call)
        match = _CLUSTER_INFO.fullmatch(call.path)
        assert match is not None
        head_node, node_os = match.groups()
        if head_node != self.config.head_node or node_os not in NODE_OSES:
            return self._refuse(call, f"no cluster {head_node!r}/{node_os!r}", 404)
        return Response.json(self.config.cluster_info(node_os))

    def _cluster_software(self, call: _Call) -> Response:
        self._no_query(call)
        software = self.config.software_info()
        windows, linux = self.config.modes.software_keys.split("/")
        return Response.json(
            {windows: software.pop("software"), linux: software.pop("linuxsoftware"), **software}
        )

    # -- control calls -------------------------------------------------------

    def _control(self, request: Request) -> Response:
        """The test/control API under ``/_standin/`` (JSON in, JSON out)."""
        name = request.path[len(CONTROL_PREFIX) :]
        query = dict(parse_qsl(request.query))
        try:
            body: dict[str, Any] = json.loads(request.body) if request.body.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            key = (request.method, name)
            if key == ("GET", "calls"):
                return Response.json(self.calls.list(query.get("path")))
            if key == ("GET", "jobs"):
                return Response.json(self.jobs.all())
            if key == ("GET", "faults"):
                return Response.json(self.faults.pending())
            if key == ("GET", "health"):
                return Response.json({"ok": True})
            if key == ("POST", "faults"):
                fault = self.faults.add(
                    str(body["path"]),
                    str(body["kind"]),
                    count=int(body.get("count", 1)),
                    delay=float(body.get("delay", 0.0)),
                    after=bool(body.get("after", False)),
                )
                return Response.json(fault.to_json())
            if key == ("POST", "expire-sessions"):
                return Response.json({"expired": self.sessions.expire_all()})
            if key == ("POST", "reset"):
                self.reset()
                return Response.json({"ok": True})
            if key == ("POST", "timings"):
                timings = self.jobs.set_timings(**body)
                return Response.json(vars(timings))
            if key == ("POST", "set-state"):
                self.jobs.set_state(int(body["id"]), str(body["state"]))
                return Response.json({"ok": True})
        except (KeyError, ValueError, TypeError) as exc:
            return Response.json({"error": f"{type(exc).__name__}: {exc}"}, status=400)
        return Response.json({"error": f"no control call {request.method} {name}"}, status=404)
