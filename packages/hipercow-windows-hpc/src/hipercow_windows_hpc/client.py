"""A client for the HPC Pack web portal: one login per command, retries, clear failures.

The earlier tool logged in once per task; here a client logs in on its first
call that needs a session and keeps the session cookie (in memory only) for
every later call, so a command submitting a thousand tasks logs in once. When
the portal answers HTTP 401 or 403 (or, as it used to, its login form) the
session has lapsed: the client logs in again and repeats the call, once,
without the caller noticing. A login answered that way is a wrong password.

Transient faults (timeouts, dropped connections, HTTP 5xx, answers that are
not in the promised format) are retried with a growing pause; when retries
run out the caller gets a `PortalUnavailableError` saying what happened and
what to do. A submission whose answer was lost may still have been carried
out, so before submitting again the client looks for a job of the same name
(job names are task ids) and adopts it rather than running the task twice.
A cancel is never repeated blindly either: the portal's cancels can take a
long time, and one whose answer was lost is checked against the listing.

Only the standard library is used (urllib), so the client runs wherever
Python does, Windows included. Nothing here logs a password or a form body.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from http.cookiejar import CookieJar
from typing import Any, Literal, NamedTuple, TypeVar
from urllib.parse import urlencode

from hipercow_core.errors import DriverError
from hipercow_core.log import get_logger
from hipercow_windows_hpc import __version__
from hipercow_windows_hpc.credentials import Credentials
from hipercow_windows_hpc.errors import (
    AuthenticationError,
    NoAccessError,
    PortalRefusedError,
    PortalUnavailableError,
)
from hipercow_windows_hpc.states import has_ended, is_cancelled
from hipercow_windows_hpc.wire import (
    JobRow,
    NodeSlot,
    UnreadableAnswerError,
    b64,
    form_body,
    is_login_page,
    is_no_access_page,
    page_text,
    parse_cancel,
    parse_head_nodes,
    parse_job_list,
    parse_log_page,
    parse_node_table,
    parse_software,
    parse_submit,
)

log = get_logger(__name__)

T = TypeVar("T")

CLIENT_VERSION = f"hipercow-windows-hpc/{__version__}"
_MAX_PAUSE = 30.0
_UNAVAILABLE_HINT = (
    "Check that you can reach {url} (VPN, network), then try again; "
    "'hipercow windows-hpc check' tests the connection."
)
#: The statuses with which the portal refuses a missing or lapsed session, or a login.
_SESSION_REFUSALS = (401, 403)
CANCELLED = "OK"


class _TransientError(Exception):
    """A failure worth retrying; `reached` when the portal may have carried out the call."""

    def __init__(self, reason: str, reached: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reached = reached


class _SessionLapsedError(Exception):
    """HTTP 401/403, or the login form: the session is gone, so log in again and repeat."""

    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


class _NotAcceptedError(Exception):
    """The answer is not what the call promises: a refusal, or a session lapsed unannounced."""


class _Answer(NamedTuple):
    status: int
    text: str


class _Session(NamedTuple):
    """A logged-in session: its cookies, whose it is, and the head nodes it may use."""

    jar: CookieJar
    username: str
    head_nodes: tuple[str, ...]


#: Sessions shared by the clients of this process, by portal URL and head node.
#: Core builds a new driver, so a new client, for every status poll of `task
#: wait`; sharing the session keeps that to one login per command. Only the
#: cookie is kept, in memory; a lapsed one is replaced by the usual re-login.
_SESSIONS: dict[tuple[str, str], _Session] = {}


class PortalClient:
    """The portal's calls, each returning parsed values.

    Clients share their session with later clients of the same portal in this
    process, unless made with `share_session=False` (as when checking new
    credentials, which must really log in).
    """

    def __init__(
        self,
        url: str,
        head_node: str,
        credentials: Callable[[], Credentials],
        *,
        timeout: float = 30.0,
        cancel_timeout: float | None = None,
        retries: int = 3,
        retry_wait: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        share_session: bool = True,
    ) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.head_node = head_node
        self.timeout = timeout
        self.cancel_timeout = cancel_timeout
        self.retries = retries
        self.retry_wait = retry_wait
        self._credentials = credentials
        self._sleep = sleep
        self._share = share_session
        self._key = (self.url, head_node)
        self._use_jar(CookieJar())
        self._username: str | None = None
        #: The user whose credentials the portal accepted in this process, if any.
        self._accepted: str | None = None
        self._head_nodes: tuple[str, ...] = ()
        self._logged_in = False
        self._login_error: DriverError | None = None

    # -- sessions ----------------------------------------------------------

    @property
    def username(self) -> str:
        """The logged-in user (without domain); logs in if needed."""
        self._ensure_login()
        assert self._username is not None
        return self._username

    def login(self) -> None:
        """Log in now, replacing any session; raises if the portal refuses the credentials.

        The portal refuses a wrong password with HTTP 401 or 403; the older
        portal did not say, and the failure showed as an empty list of head
        nodes, so that list is always fetched too. A head node list refused
        right after an accepted login means the new session lapsed at once
        (a slow moment of the portal's): the login is tried once more.
        """
        credentials = self._credentials()
        username = credentials.username
        self._forget_session()
        log.debug("portal login", user=username, url=self.url)
        nodes = self._log_in_once(credentials)
        # The older portal answers a session that lapsed right after the login as it
        # answers a wrong password (an empty head node list); once these credentials
        # were accepted in this process, an empty list means the lapse.
        if nodes is None or (not nodes and self._accepted == username):
            log.debug("portal session lapsed right after login; logging in again")
            nodes = self._log_in_once(credentials)
        if nodes is None:
            raise PortalRefusedError(
                "the portal accepted the login but refused the head node list right after",
                "Try again; if it persists, check 'hipercow windows-hpc check'.",
            )
        if not nodes:
            raise AuthenticationError(
                f"the portal did not accept the password for '{username}'",
                "Run 'hipercow windows-hpc authenticate set' with your current DIDE password.",
            )
        if self.head_node not in nodes:
            raise AuthenticationError(
                f"'{username}' has no access to the cluster '{self.head_node}' "
                f"(only to: {', '.join(nodes)})",
                "Configure the head node you may use: hipercow driver configure windows-hpc "
                f"head_node={nodes[0]}",
            )
        self._username = username
        self._accepted = username
        self._head_nodes = tuple(nodes)
        self._logged_in = True
        if self._share:
            _SESSIONS[self._key] = _Session(self._jar, username, self._head_nodes)

    def _log_in_once(self, credentials: Credentials) -> list[str] | None:
        """Post the login in a fresh session; the head nodes it may use ([]: refused).

        None when the login was accepted but the head node list was refused.
        """
        self._use_jar(CookieJar())
        form = {
            "us": b64(credentials.username),
            "pw": b64(credentials.password),
            "hpcfunc": b64("login"),
        }
        try:
            text = self._call("login", "POST", "index.php", form=form, parse=str)
        except _SessionLapsedError:
            return []
        if is_no_access_page(text):
            raise NoAccessError(
                f"'{credentials.username}' can log in to the portal "
                "but has no access to the HPC cluster",
                "Ask your group's HPC contact to give you access, then try again.",
            )
        try:
            return self._call(
                "head node list",
                "POST",
                "_listheadnodes.php",
                form={"user": b64("")},
                parse=parse_head_nodes,
            )
        except _SessionLapsedError:
            return None

    def _use_jar(self, jar: CookieJar) -> None:
        self._jar = jar
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def _forget_session(self) -> None:
        """Stop using the current session, and stop sharing it if it is the shared one."""
        self._logged_in = False
        shared = _SESSIONS.get(self._key)
        if shared is not None and shared.jar is self._jar:
            del _SESSIONS[self._key]

    def _ensure_login(self) -> None:
        """Log in unless logged in.

        A login that failed (refused, or unanswered after every retry) is
        remembered and re-raised, so one command never pays for the retries
        twice or sends a wrong password again and again.
        """
        if self._logged_in:
            return
        if self._login_error is not None:
            raise self._login_error
        shared = _SESSIONS.get(self._key) if self._share else None
        if shared is not None and shared.username == self._credentials().username:
            self._use_jar(shared.jar)
            self._username = shared.username
            self._head_nodes = shared.head_nodes
            self._logged_in = True
            return
        try:
            self.login()
        except DriverError as e:
            self._login_error = e
            raise

    def logout(self) -> None:
        """End the session; failures are ignored, since the session lapses anyway."""
        if not self._logged_in:
            return
        self._forget_session()
        with contextlib.suppress(
            _TransientError, _SessionLapsedError, PortalRefusedError, PortalUnavailableError
        ):
            self._send("GET", "logout.php")

    # -- calls without a session -------------------------------------------

    def cluster_info(self, node_os: str) -> dict[str, Any]:
        """`api/v1/cluster_info/<head node>/<windows|linux>/`: queues, nodes, limits."""
        path = f"api/v1/cluster_info/{self.head_node}/{node_os}/"
        return self._call(
            "cluster info", "GET", path, parse=_json_with("max_cores", "max_ram", "queues", "nodes")
        )

    def software(self) -> dict[str, list[dict[str, Any]]]:
        """`api/v1/cluster_software/`: the software on the `windows` and the `linux` nodes."""
        return self._call("software list", "GET", "api/v1/cluster_software/", parse=parse_software)

    # -- calls in a session ------------------------------------------------

    def submit(self, fields: Mapping[str, str], job_name: str) -> str:
        """Submit one job (`fields` are the encoded resource and command fields); its id.

        If an attempt's answer is lost, a job named `job_name` that the portal
        already has is adopted instead of submitting again.
        """
        form = {**fields, "jn": b64(job_name), "hpcfunc": "submit", "ver": b64(CLIENT_VERSION)}

        def parse(text: str) -> str:
            ids = parse_submit(text)
            if len(ids) == 1:
                return ids[0]
            if ids:
                raise PortalRefusedError(
                    f"the portal reported {len(ids)} jobs for the one job submitted "
                    f"({', '.join(ids)})",
                    "Cancel the extra jobs on the portal's web page.",
                )
            raise _NotAcceptedError(page_text(text))

        return self._call(
            "submission",
            "POST",
            "submit_1.php",
            form=form,
            parse=parse,
            session=True,
            recover=lambda: self._find_job(job_name),
        )

    def _find_job(self, name: str) -> str | None:
        """The newest live job called `name`, if the portal has one (None if it cannot say)."""
        try:
            rows = self.list_jobs()
        except (PortalUnavailableError, PortalRefusedError):
            return None
        ids = [
            int(row.id)
            for row in rows
            if row.name == name and row.state.lower() != "failed" and not is_cancelled(row.state)
        ]
        if not ids:
            return None
        log.debug("adopting job submitted by a lost attempt", job_id=max(ids))
        return str(max(ids))

    def cancel(self, job_ids: Iterable[str]) -> dict[str, str]:
        """Cancel many jobs, newest first; the portal's word for each (`OK`, `WRONG_STATE`, ...).

        The portal's cancels can take a long time, so the call waits up to
        `cancel_timeout` (None: for ever) and is never repeated blindly: when
        its answer is lost, or a job is refused (a repeated cancel is answered
        `WRONG_STATE`), the listing says what became of each job. A job it shows
        cancelled or being cancelled counts as cancelled (`OK`); only jobs still
        queued or running are asked again, at most `retries` times.
        """
        pending = sorted(set(job_ids), key=int, reverse=True)
        result: dict[str, str] = {}
        attempts = 0
        while pending:
            attempts += 1
            try:
                answers = self._cancel_once(pending)
            except PortalUnavailableError:
                log.debug("cancel answer lost; checking the listing", jobs=len(pending))
                answers = {}
            result.update(answers)
            doubtful = [job for job in pending if answers.get(job) != CANCELLED]
            if not doubtful:
                break
            listed = {row.id: row.state for row in self.list_jobs()}
            pending = []
            for job in doubtful:
                state = listed.get(job)
                if state is not None and is_cancelled(state):
                    result[job] = CANCELLED
                elif job in answers:
                    continue
                elif state is not None and not has_ended(state) and attempts <= self.retries:
                    pending.append(job)
                else:
                    result[job] = "no answer" if state is None or not has_ended(state) else state
        return result

    def _cancel_once(self, job_ids: list[str]) -> dict[str, str]:
        """One cancel call, not retried (a retry could be answered `WRONG_STATE`)."""
        form = {"cluster": b64(self.head_node), "hpcfunc": b64("cancel")}
        form.update({f"c{job_id}": job_id for job_id in job_ids})

        def parse(text: str) -> dict[str, str]:
            result = parse_cancel(text)
            if not result:
                raise UnreadableAnswerError("the cancel answer names no job")
            return result

        return self._call(
            "cancel",
            "POST",
            "cancel.php",
            form=form,
            parse=parse,
            session=True,
            retries=0,
            timeout=self.cancel_timeout,
        )

    def job_log(self, job_id: str) -> str | None:
        """The portal's log of a job (kept about two weeks); None when it has none."""
        form = {"cluster": b64(self.head_node), "hpcfunc": "showfail", "id": job_id}
        return self._call(
            "job log", "POST", "showjobfail.php", form=form, parse=parse_log_page, session=True
        )

    def list_jobs(self) -> list[JobRow]:
        """Every job of the user, in one call: the batched status query."""
        form = {
            "user": b64(self.username),
            "scheduler": b64(self.head_node),
            "state": b64("*"),
            "jobs": b64("-1"),
        }
        return self._call(
            "job list", "POST", "_listalljobs.php", form=form, parse=parse_job_list, session=True
        )

    def job_state(self, job_id: str) -> str | None:
        """One job's state as the portal words it; None only when the portal does not know it.

        Any text is a state, known or not (HPC Pack has passing states such as
        `Validating` and `Finishing`); an empty answer or HTTP 404 means no such job.
        """
        query = {"scheduler": self.head_node, "jobid": job_id}

        def parse(text: str) -> str | None:
            return text.strip() or None

        try:
            return self._call(
                "job status",
                "GET",
                "api/v1/get_job_status/",
                query=query,
                parse=parse,
                session=True,
            )
        except PortalRefusedError as e:
            if "HTTP 404" in e.message:
                return None
            raise

    def node_table(self) -> list[NodeSlot]:
        """Every processor of every compute node, idle, busy with which job, or offline."""
        self._ensure_login()
        form = {
            "cluster": b64(self.head_node),
            "hpcfunc": "shownodes",
            "cluster_no": self._cluster_number(),
        }
        return self._call(
            "node list",
            "POST",
            "shownodes.php",
            form=form,
            parse=lambda text: parse_node_table(text, self.head_node),
            session=True,
        )

    def _cluster_number(self) -> str:
        """The head node's position in the session's head node list, counting from 1."""
        nodes = [node.lower() for node in self._head_nodes]
        position = nodes.index(self.head_node.lower()) + 1 if self.head_node.lower() in nodes else 1
        return str(position)

    # -- plumbing ----------------------------------------------------------

    def _session_alive(self) -> bool:
        """Whether the session still holds: without one the head node list is refused or empty."""
        try:
            answer = self._send("POST", "_listheadnodes.php", {"user": b64("")})
            return bool(parse_head_nodes(answer.text))
        except (_TransientError, _SessionLapsedError, UnreadableAnswerError):
            return False

    def _call(
        self,
        what: str,
        method: str,
        path: str,
        *,
        parse: Callable[[str], T],
        form: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        session: bool = False,
        recover: Callable[[], T | None] | None = None,
        retries: int | None = None,
        timeout: float | Literal["default"] | None = "default",
    ) -> T:
        """Make one call: log in first if it needs a session, retry transient failures.

        A lapsed session (HTTP 401/403 or the login page) is renewed once and
        the call repeated. Outside a session, 401/403 propagate as
        `_SessionLapsedError` from the login's own calls and are refusals
        otherwise.
        """
        relogged = False
        failures = 0
        allowed = self.retries if retries is None else retries
        while True:
            if session:
                self._ensure_login()
            try:
                answer = self._send(method, path, form, query, timeout=timeout)
                if session:
                    _check_session(answer.text, self._username or "")
                return parse(answer.text)
            except _SessionLapsedError as e:
                if not session:
                    if path in ("index.php", "_listheadnodes.php"):
                        raise
                    raise PortalRefusedError(
                        f"the portal refused the {what}: {e.how}",
                        "This is likely a change in the portal; please report it.",
                    ) from None
                if relogged:
                    raise PortalRefusedError(
                        f"the portal refused the {what} ({e.how}) even after a fresh login",
                        "Try again; if it persists, check 'hipercow windows-hpc check'.",
                    ) from None
            except _NotAcceptedError as e:
                # The portal words most failures this way, an expired login among
                # them; only if the session is gone is a fresh login worth a retry.
                if relogged or self._session_alive():
                    raise PortalRefusedError(
                        f"the portal did not accept the {what}: {e}",
                        "Check the task's resources against 'hipercow cluster info'.",
                    ) from None
            except (_TransientError, UnreadableAnswerError) as e:
                reason = e.reason if isinstance(e, _TransientError) else f"unreadable answer ({e})"
                reached = e.reached if isinstance(e, _TransientError) else True
                failures += 1
                if failures > allowed:
                    raise PortalUnavailableError(
                        f"the portal did not answer the {what} properly after "
                        f"{failures} attempt{'s' if failures > 1 else ''}: {reason}",
                        _UNAVAILABLE_HINT.format(url=self.url),
                    ) from None
                pause = min(self.retry_wait * 2 ** (failures - 1), _MAX_PAUSE)
                log.debug("portal call failed; retrying", call=what, reason=reason, pause=pause)
                self._sleep(pause)
                if recover is not None and reached:
                    found = recover()
                    if found is not None:
                        return found
                continue
            log.debug("portal session lapsed; logging in again", call=what)
            relogged = True
            self._forget_session()

    def _send(
        self,
        method: str,
        path: str,
        form: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        *,
        timeout: float | Literal["default"] | None = "default",
    ) -> _Answer:
        """One HTTP request.

        Transient failures raise `_TransientError`, HTTP 401/403
        `_SessionLapsedError`, other refusals `PortalRefusedError`.
        """
        seconds = self.timeout if timeout == "default" else timeout
        url = self.url + path + (f"?{urlencode(dict(query))}" if query else "")
        headers: dict[str, str] = {}
        data = None
        if method == "POST":
            data = form_body(form or {})
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "text/plain",
            }
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        started = time.monotonic()
        try:
            with self._opener.open(request, timeout=seconds) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, _read_quietly(e)
            log.debug("portal answer", method=method, path=path, status=status)
            if status >= 500:
                raise _TransientError(f"HTTP {status} from {path}", reached=True) from None
            if status in _SESSION_REFUSALS:
                raise _SessionLapsedError(f"HTTP {status}") from None
            raise PortalRefusedError(
                f"the portal refused {path}: HTTP {status} {page_text(raw.decode(errors='replace'))}",
                "This is likely a bug in hipercow or a change in the portal; please report it.",
            ) from None
        except urllib.error.URLError as e:
            raise _url_error(e, self.url) from None
        except TimeoutError:
            limit = f" within {seconds:g}s" if seconds is not None else ""
            raise _TransientError(f"no answer from {path}{limit}", True) from None
        except (http.client.HTTPException, OSError) as e:
            raise _TransientError(f"connection dropped ({type(e).__name__})", True) from None
        log.debug(
            "portal answer",
            method=method,
            path=path,
            status=status,
            seconds=round(time.monotonic() - started, 3),
        )
        try:
            return _Answer(status, raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise _TransientError(f"an answer from {path} that is not text", True) from None


def _read_quietly(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read()
    except (OSError, http.client.HTTPException):
        return b""
    finally:
        error.close()


def _url_error(error: urllib.error.URLError, url: str) -> Exception:
    reason = error.reason
    if isinstance(reason, TimeoutError):
        return _TransientError("timed out", True)
    if isinstance(reason, ssl.SSLCertVerificationError):
        return PortalUnavailableError(
            f"the portal's certificate could not be verified: {reason.verify_message}",
            "Check portal_url, and that this machine trusts the institute's certificates.",
        )
    if isinstance(reason, ConnectionRefusedError):
        return _TransientError(f"connection to {url} refused", False)
    return _TransientError(f"cannot reach {url} ({reason})", False)


def _check_session(text: str, username: str) -> None:
    """Raise if an answer in a session is the login form or the no-access page."""
    if is_login_page(text):
        raise _SessionLapsedError("the login page")
    if is_no_access_page(text):
        raise NoAccessError(
            f"'{username}' has no access to the HPC cluster",
            "Ask your group's HPC contact to give you access, then try again.",
        )


def _json_with(*keys: str) -> Callable[[str], dict[str, Any]]:
    """A parser for a JSON object that must hold `keys`."""

    def parse(text: str) -> dict[str, Any]:
        try:
            value = json.loads(text)
        except ValueError:
            raise UnreadableAnswerError("not JSON") from None
        if not isinstance(value, dict) or any(k not in value for k in keys):
            raise UnreadableAnswerError(f"JSON without {', '.join(keys)}")
        return value

    return parse
