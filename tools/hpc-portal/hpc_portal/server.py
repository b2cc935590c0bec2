"""HTTP plumbing and the in-process handle tests use: :class:`PortalStandin`.

The server is the standard library's ThreadingHTTPServer speaking HTTP/1.1
with keep-alive (as PHP behind Apache would), bound to loopback. A slow call
only holds its own thread. ``drop`` faults close the socket without a byte of
answer, which is what a client sees when a proxy or PHP worker dies mid-call.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Collection, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from .config import PortalConfig, Timings
from .faults import Fault
from .portal import CONTROL_PREFIX, Portal, Request, Response

_MAX_BODY = 16 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], portal: Portal, verbose: bool) -> None:
        self.portal = portal
        self.verbose = verbose
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "hpc-portal-standin/1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._answer(Response.text("stand-in portal: chunked bodies not supported\n", 411))
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > _MAX_BODY:
            self._answer(Response.text("stand-in portal: bad Content-Length\n", 400))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
        )
        response = self.server.portal.handle(request)
        if response.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._answer(response)

    def _answer(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)


class PortalStandin:
    """A running stand-in portal on 127.0.0.1, for tests and by hand.

    ``with PortalStandin(config) as portal:`` starts it on a free port (or
    ``port``), and ``portal.url`` is the base URL a driver is given (it ends with
    the configured base path, ``/hpc/``). Leaving the block, :meth:`close`, or
    interpreter exit stops the server and kills every job process it started.
    ``config`` may be a :class:`PortalConfig`, a dict in the JSON schema, a path
    to a JSON file, or None (defaults, no users).
    """

    def __init__(
        self,
        config: PortalConfig | Mapping[str, Any] | str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
    ) -> None:
        self.config = PortalConfig.coerce(config)
        self.host = host
        self._requested_port = port
        self._verbose = verbose
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._portal: Portal | None = None
        self._own_scratch: Path | None = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> PortalStandin:
        """Bind, start serving and start the job scheduler; returns self."""
        if self._server is not None:
            return self
        if self.config.scratch_dir:
            scratch = Path(self.config.scratch_dir)
            scratch.mkdir(parents=True, exist_ok=True)
        else:
            scratch = self._own_scratch = Path(tempfile.mkdtemp(prefix="hpc-portal-standin-"))
        self._portal = Portal(self.config, scratch)
        self._server = _Server((self.host, self._requested_port), self._portal, self._verbose)
        self._portal.jobs.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="standin-http"
        )
        self._thread.daemon = True
        self._thread.start()
        atexit.register(self.close)
        return self

    def close(self) -> None:
        """Stop serving and kill every job process; safe to call twice."""
        if self._closed or self._server is None:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)
        assert self._portal is not None
        self._portal.close()
        if self._own_scratch is not None:
            shutil.rmtree(self._own_scratch, ignore_errors=True)

    def __enter__(self) -> PortalStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def serve_until(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set, then close (for the command line)."""
        self.start()
        try:
            stop.wait()
        finally:
            self.close()

    # -- addresses ---------------------------------------------------------------

    @property
    def portal(self) -> Portal:
        """The portal logic (started)."""
        if self._portal is None:
            raise RuntimeError("the stand-in is not started")
        return self._portal

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>/``."""
        return f"http://{self.host}:{self.port}/"

    @property
    def url(self) -> str:
        """The portal's base URL, e.g. ``http://127.0.0.1:<port>/hpc/``."""
        return f"http://{self.host}:{self.port}{self.config.base_path}"

    @property
    def control_url(self) -> str:
        """The control API's base URL, ``http://127.0.0.1:<port>/_standin/``."""
        return f"http://{self.host}:{self.port}{CONTROL_PREFIX}"

    # -- control (same as the /_standin/ endpoints) -------------------------------

    def calls(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every protocol call received (optionally of one path), oldest first."""
        return self.portal.calls.list(path)

    def add_fault(
        self, path: str, kind: str, count: int = 1, delay: float = 0.0, after: bool = False
    ) -> dict[str, Any]:
        """Inject ``kind`` ("slow", "500", "garbage", "drop", "lapse") into the next ``count`` calls.

        "lapse" ends every session just before the call is answered, so the
        call meets a lapsed session at a moment the test chooses.
        """
        fault: Fault = self.portal.faults.add(path, kind, count, delay, after)
        return fault.to_json()

    def faults(self) -> list[dict[str, Any]]:
        """Faults not yet used up."""
        return self.portal.faults.pending()

    def set_session_ttl(self, seconds: float) -> None:
        """Sessions live `seconds` idle from now on: short only for the part of a test that wants lapses."""
        self.portal.sessions.set_ttl(seconds)

    def expire_sessions(self) -> int:
        """End every session now; returns how many there were."""
        return self.portal.sessions.expire_all()

    def reset(self) -> None:
        """Kill and forget all jobs, sessions, calls and faults; job ids restart."""
        self.portal.reset()

    def jobs(self) -> list[dict[str, Any]]:
        """Snapshots of all jobs (id, user, state, command, translated_command, log, ...)."""
        return self.portal.jobs.all()

    def job(self, job_id: int) -> dict[str, Any]:
        """Snapshot of one job; KeyError if there is none."""
        job = self.portal.jobs.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    def set_timings(
        self,
        queued: float | None = None,
        running: float | None = None,
        outcome: str | None = None,
        transient: float | None = None,
        cancel: float | None = None,
    ) -> Timings:
        """Change the timings (and Windows outcome) of jobs submitted from now on."""
        return self.portal.jobs.set_timings(
            queued=queued, running=running, outcome=outcome, transient=transient, cancel=cancel
        )

    def set_state(self, job_id: int, state: str) -> None:
        """Force a job into a final state now (Finished, Failed or Canceled)."""
        self.portal.jobs.set_state(job_id, state)

    def wait_for_state(
        self, job_id: int, states: str | Collection[str], timeout: float = 10.0
    ) -> str:
        """Wait until a job is in one of ``states``; returns the state, TimeoutError if not."""
        wanted = {states} if isinstance(states, str) else set(states)
        deadline = time.monotonic() + timeout
        while True:
            state = str(self.job(job_id)["state"])
            if state in wanted:
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {state}, not {sorted(wanted)}")
            time.sleep(0.01)
