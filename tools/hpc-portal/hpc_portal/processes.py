"""Running a LinuxNodes job as a real process group on this machine.

Each job runs under ``bash -c`` in a new session, so its whole process tree
shares one process group that cancel and shutdown can kill at once, the way
the cluster tears down a job. Output is read as it comes (a running job's log
grows), stdout and stderr merged, as the portal shows them in one log.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

#: How long to wait for the output pipe after the job's shell has exited.
_READER_GRACE = 5.0


class JobProcess:
    """One job's process group: started at once, watched by a background thread."""

    def __init__(
        self,
        command: str,
        *,
        cwd: Path,
        env: Mapping[str, str],
        on_output: Callable[[str], None],
        on_exit: Callable[[int], None],
    ) -> None:
        self._on_output = on_output
        self._on_exit = on_exit
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self._proc.pid
        #: A new session's leader leads its own process group.
        self.pgid = self._proc.pid
        self._thread = threading.Thread(target=self._watch, name=f"standin-job-{self.pid}")
        self._thread.daemon = True
        self._thread.start()

    def _read(self) -> None:
        stream = self._proc.stdout
        assert stream is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        fd = stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            self._on_output(decoder.decode(chunk))
        tail = decoder.decode(b"", final=True)
        if tail:
            self._on_output(tail)

    def _watch(self) -> None:
        reader = threading.Thread(target=self._read, name=f"standin-out-{self.pid}")
        reader.daemon = True
        reader.start()
        code = self._proc.wait()
        # The shell is gone; anything it left in the group goes too, as on a node.
        self._killpg()
        with self._lock:
            self._done.set()
        reader.join(_READER_GRACE)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._on_exit(code)

    def _killpg(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signal.SIGKILL)

    def kill(self) -> None:
        """Kill the whole process group now (a no-op once the job has been reaped)."""
        with self._lock:
            if not self._done.is_set():
                self._killpg()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the job's exit has been handled; True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()
