"""Install (if missing) and run a real, single-machine Slurm cluster for development and CI.

Why a real cluster: hipercow's Slurm driver has to cope with what Slurm actually does (time
limits, node failures, a controller that goes away, finished jobs that vanish), and a mock
only knows what its author already believed.  This tool makes the real thing cheap: one
controller (slurmctld) and three compute nodes (three ``slurmd -N nX`` on different ports)
on localhost, with timeouts tuned so failure tests finish in about a minute.

Usage (from the workspace root, where ``sh`` is a dev dependency)::

    uv run python tools/slurm-cluster/cluster.py start
    uv run python tools/slurm-cluster/cluster.py status
    uv run python tools/slurm-cluster/cluster.py kill-node n2
    uv run python tools/slurm-cluster/cluster.py restart-node n2
    uv run python tools/slurm-cluster/cluster.py stop-controller
    uv run python tools/slurm-cluster/cluster.py start-controller
    uv run python tools/slurm-cluster/cluster.py stop [--purge]

Scratch directory (state, spool, logs, pid files): ``$HIPERCOW_SLURM_DIR`` or
``/tmp/hipercow-slurm``.  Needs root (it installs packages and runs the daemons as root).
Every external command goes through ``sh``, per the project rule for POSIX-only code.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import string
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import sh

SCRIPT_DIR = Path(__file__).resolve().parent
TEMPLATE = SCRIPT_DIR / "slurm.conf.in"
DEFAULT_DIR = Path("/tmp/hipercow-slurm")
ETC_CONF = Path("/etc/slurm/slurm.conf")

CLUSTER_NAME = "hipercow"
CTLD_PORT = 6817
SLURMD_TIMEOUT = 20
NODES: tuple[str, ...] = ("n1", "n2", "n3")
PARTITIONS: tuple[str, ...] = ("main", "short")
PACKAGES: tuple[str, ...] = ("slurmctld", "slurmd", "slurm-client", "munge")
# Binaries whose absence means "install the packages"; checking binaries rather than dpkg
# state lets the tool also run on a machine where Slurm came from somewhere else.
BINARIES: tuple[str, ...] = (
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "sinfo",
    "scontrol",
    "scancel",
    "munged",
    "munge",
    "unmunge",
)

MUNGE_USER = "munge"
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_PID = Path("/run/munge/munged.pid")
MUNGE_DIRS: tuple[Path, ...] = (
    Path("/etc/munge"),
    Path("/run/munge"),
    Path("/var/log/munge"),
    Path("/var/lib/munge"),
)

# Node states (sinfo %T, suffix flags stripped) in which a node is usable.
UP_STATES = frozenset({"idle", "mixed", "allocated", "completing"})
# Suffixes sinfo appends to a state: '*' not responding, '~' powered off, etc.
STATE_FLAGS = "*~#!%$@^-+"

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


class ClusterError(Exception):
    """A failure the user must act on; main() prints it without a traceback."""


def log(message: str) -> None:
    """Report progress on stderr, so stdout stays clean for the summary and sinfo output."""
    print(f"[slurm-cluster] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Layout:
    """Every path the cluster writes, derived from one scratch directory.

    Keeping all mutable state under one directory makes ``stop --purge`` a complete reset and
    lets parallel checkouts pick different directories via ``$HIPERCOW_SLURM_DIR``.
    """

    root: Path

    @classmethod
    def from_env(cls) -> Layout:
        """Use ``$HIPERCOW_SLURM_DIR`` when set, so CI can point state somewhere else."""
        value = os.environ.get("HIPERCOW_SLURM_DIR", "").strip()
        return cls(Path(value) if value else DEFAULT_DIR)

    @property
    def conf(self) -> Path:
        """The rendered slurm.conf that the daemons read."""
        return self.root / "slurm.conf"

    @property
    def state(self) -> Path:
        """StateSaveLocation: survives a controller restart, so jobs do too."""
        return self.root / "state"

    @property
    def spool(self) -> Path:
        """Parent of the per-node SlurmdSpoolDir."""
        return self.root / "spool"

    @property
    def logs(self) -> Path:
        """Daemon logs, read back when something fails to come up."""
        return self.root / "log"

    @property
    def run(self) -> Path:
        """Pid files and the marker saying that this tool started munged."""
        return self.root / "run"

    @property
    def munged_owned(self) -> Path:
        """Marker: munged was started by us, so ``stop`` may stop it."""
        return self.run / "munged.started-by-tool"

    def daemon_stdio(self, name: str) -> Path:
        """Where a daemon's own stdout/stderr go (early start-up errors land here)."""
        return self.logs / f"{name}.stdio"

    def dirs(self) -> tuple[Path, ...]:
        """Directories to create before starting anything."""
        return (self.root, self.state, self.spool, self.logs, self.run)


@dataclass(frozen=True)
class Daemon:
    """A daemon we start and stop, found by pid file first and by /proc scan second.

    The scan matters because pid files go stale (a killed slurmd leaves its pid file
    behind) or are missing (a daemon started by someone else).
    """

    label: str
    comm: str
    pid_file: Path
    log_file: Path
    argv_marker: tuple[str, ...] = ()

    def pids(self) -> list[int]:
        """Live pids of this daemon (normally zero or one)."""
        pid = read_pid(self.pid_file)
        if pid is not None and process_matches(pid, self.comm, self.argv_marker):
            return [pid]
        return scan_processes(self.comm, self.argv_marker)

    def running(self) -> bool:
        """Whether at least one live process of this daemon exists."""
        return bool(self.pids())


def slurmctld_daemon(layout: Layout) -> Daemon:
    """The controller: one per cluster."""
    return Daemon(
        "slurmctld", "slurmctld", layout.run / "slurmctld.pid", layout.logs / "slurmctld.log"
    )


def slurmd_daemon(layout: Layout, node: str) -> Daemon:
    """One compute node; the ``-N node`` marker tells the three slurmd apart."""
    return Daemon(
        f"slurmd {node}",
        "slurmd",
        layout.run / f"slurmd-{node}.pid",
        layout.logs / f"slurmd-{node}.log",
        ("-N", node),
    )


def munged_daemon() -> Daemon:
    """The munge authentication daemon that every Slurm RPC depends on."""
    return Daemon("munged", "munged", MUNGE_PID, Path("/var/log/munge/munged.log"))


# --------------------------------------------------------------------------- processes


def read_pid(path: Path) -> int | None:
    """Read a pid file; None when absent or garbage (a half-written file is not an error)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _proc_comm_state(pid: int) -> tuple[str, str] | None:
    """(comm, state letter) from /proc/PID/stat, or None if the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm is in parentheses and may itself contain ')' or spaces; split on the last ')'.
    start, end = raw.find("("), raw.rfind(")")
    if start < 0 or end < 0:
        return None
    return raw[start + 1 : end], raw[end + 2 : end + 3]


def descendants(roots: Iterable[int]) -> list[int]:
    """All processes below ``roots`` in the process tree (children, grandchildren, ...)."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1].isdigit():
            parent_of[int(entry.name)] = int(fields[1])
    found: list[int] = []
    frontier = set(roots)
    while frontier:
        children = {pid for pid, ppid in parent_of.items() if ppid in frontier}
        found.extend(sorted(children))
        frontier = children
    return found


def _proc_argv(pid: int) -> list[str]:
    """The argv of a process (empty if it vanished)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _has_marker(argv: list[str], marker: tuple[str, ...]) -> bool:
    """Whether ``marker`` appears as consecutive arguments in ``argv``."""
    if not marker:
        return True
    width = len(marker)
    return any(tuple(argv[i : i + width]) == marker for i in range(len(argv) - width + 1))


def process_matches(pid: int, comm: str, marker: tuple[str, ...] = ()) -> bool:
    """Whether PID is a live (non-zombie) process named ``comm`` with ``marker`` in its argv.

    Zombies count as dead: PID 1 in some containers reaps late (or never), and a zombie
    slurmd must not make ``start`` believe the node is up.
    """
    info = _proc_comm_state(pid)
    if info is None or info[0] != comm or info[1] in ("Z", "X"):
        return False
    return _has_marker(_proc_argv(pid), marker)


def zombie_count(comm: str) -> int:
    """How many dead-but-unreaped processes named ``comm`` exist (they still show in pgrep)."""
    count = 0
    for entry in Path("/proc").iterdir():
        info = _proc_comm_state(int(entry.name)) if entry.name.isdigit() else None
        if info is not None and info[0] == comm and info[1] in ("Z", "X"):
            count += 1
    return count


def scan_processes(comm: str, marker: tuple[str, ...] = ()) -> list[int]:
    """All live processes named ``comm`` (and carrying ``marker``), by walking /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and process_matches(int(entry.name), comm, marker):
            found.append(int(entry.name))
    return sorted(found)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def send_signal(pids: Iterable[int], sig: signal.Signals) -> None:
    """Signal processes, ignoring ones that exited in the meantime."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def stop_daemon(daemon: Daemon, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM a daemon (so it saves state), SIGKILL if it lingers; True if one was running."""
    pids = daemon.pids()
    if not pids:
        return False
    log(f"stopping {daemon.label} (pid {', '.join(map(str, pids))})")
    send_signal(pids, signal.SIGTERM)
    if not wait_until(lambda: not daemon.running(), timeout):
        log(f"{daemon.label} ignored SIGTERM for {timeout:.0f} s; sending SIGKILL")
        send_signal(daemon.pids(), signal.SIGKILL)
        wait_until(lambda: not daemon.running(), 5.0)
    return True


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log, for error messages that point at the cause."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} is empty)"


# --------------------------------------------------------------------------- commands


def client_env(layout: Layout) -> dict[str, str]:
    """Environment for Slurm client commands: pin SLURM_CONF to the config we rendered."""
    return {**os.environ, "SLURM_CONF": str(layout.conf)}


def slurm_cmd(layout: Layout, name: str, *args: str, timeout: float = 20.0) -> str:
    """Run a Slurm client command and return its stdout (raises sh.ErrorReturnCode)."""
    return str(sh.Command(name)(*args, _env=client_env(layout), _timeout=timeout))


def error_text(exc: sh.ErrorReturnCode) -> str:
    """The stderr (or stdout) of a failed command, as one stripped string."""
    raw: bytes = exc.stderr or exc.stdout or b""
    return raw.decode(errors="replace").strip()


def controller_responds(layout: Layout) -> bool:
    """Whether slurmctld answers RPCs (a live process may still be starting up)."""
    try:
        out = slurm_cmd(layout, "scontrol", "ping", timeout=15.0)
    except (sh.ErrorReturnCode, sh.TimeoutException):
        return False
    return "is UP" in out


def node_states(layout: Layout) -> dict[str, str]:
    """Map node name to its sinfo state (long form, flags kept), e.g. {'n1': 'idle'}.

    ``sinfo -N`` lists a node once per partition; the state is the same on every line.
    """
    out = slurm_cmd(layout, "sinfo", "-h", "-N", "-o", "%N %T")
    states: dict[str, str] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states


def state_is_up(state: str) -> bool:
    """A node is usable when its base state is up and no '*' (not responding) flag is set."""
    return "*" not in state and state.rstrip(STATE_FLAGS) in UP_STATES


# --------------------------------------------------------------------------- setup


def require_root() -> None:
    """Fail early: installing packages, munge and SlurmUser=root all need root."""
    if os.geteuid() != 0:
        raise ClusterError("must run as root (installs packages and runs slurm daemons)")


def ensure_installed() -> None:
    """apt-get install the Slurm and munge packages when any binary is missing.

    ``apt-get update`` runs only when installing, so a ready machine never touches the
    network and ``start`` stays fast and offline-safe.
    """
    missing = [name for name in BINARIES if shutil.which(name) is None]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise ClusterError(f"missing {', '.join(missing)} and no apt-get to install them")
    log(f"missing {', '.join(missing)}; installing {' '.join(PACKAGES)} with apt-get")
    apt = sh.Command("apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        apt("update", _env=env)
        apt("install", "-y", "-q", *PACKAGES, _env=env)
    except sh.ErrorReturnCode as exc:
        raise ClusterError(f"apt-get failed:\n{error_text(exc)[-3000:]}") from exc
    still = [name for name in BINARIES if shutil.which(name) is None]
    if still:
        raise ClusterError(f"after installing, still missing: {', '.join(still)}")
    log("packages installed")


def _own(path: Path, uid: int, gid: int, mode: int) -> None:
    """Set owner and mode only when they differ, so a second ``start`` changes nothing."""
    info = path.stat()
    if (info.st_uid, info.st_gid) != (uid, gid):
        os.chown(path, uid, gid)
    if info.st_mode & 0o7777 != mode:
        path.chmod(mode)


def ensure_munge(layout: Layout) -> None:
    """Create the munge key and directories, and start munged unless one already runs.

    Slurm authenticates every RPC through munge, so nothing works without it.  A munged we
    did not start (e.g. a system service) is reused and left alone by ``stop``.
    """
    try:
        user = pwd.getpwnam(MUNGE_USER)
    except KeyError as exc:
        raise ClusterError("no 'munge' user; is the munge package installed?") from exc
    for directory in MUNGE_DIRS:
        directory.mkdir(parents=True, exist_ok=True)
        mode = 0o755 if directory.name == "munge" and directory.parent == Path("/run") else 0o700
        _own(directory, user.pw_uid, user.pw_gid, mode)
    if not MUNGE_KEY.exists() or MUNGE_KEY.stat().st_size == 0:
        log(f"writing a new munge key to {MUNGE_KEY}")
        MUNGE_KEY.write_bytes(secrets.token_bytes(1024))
    _own(MUNGE_KEY, user.pw_uid, user.pw_gid, 0o400)

    daemon = munged_daemon()
    if daemon.running():
        return
    log("starting munged")
    with layout.daemon_stdio("munged").open("ab") as stdio:
        try:
            sh.runuser("-u", MUNGE_USER, "--", "munged", _out=stdio, _err=stdio, _timeout=30)
        except sh.ErrorReturnCode as exc:
            raise ClusterError(
                f"munged failed to start:\n{tail(layout.daemon_stdio('munged'))}\n"
                f"{tail(daemon.log_file)}"
            ) from exc
    if not wait_until(daemon.running, 10.0):
        raise ClusterError(f"munged did not stay up:\n{tail(daemon.log_file)}")
    layout.munged_owned.write_text(f"{daemon.pids()[0]}\n")
    try:
        sh.unmunge(_in=sh.munge("-n"), _timeout=10)
    except sh.ErrorReturnCode as exc:
        raise ClusterError(f"munge self-test failed: {error_text(exc)}") from exc


def render_conf(layout: Layout) -> str:
    """Fill the shipped slurm.conf.in template with this layout's paths.

    ``substitute`` (not ``safe_substitute``) so a placeholder typo fails loudly.
    """
    template = string.Template(TEMPLATE.read_text())
    return template.substitute(
        cluster_name=CLUSTER_NAME,
        ctld_port=CTLD_PORT,
        slurmd_timeout=SLURMD_TIMEOUT,
        state_dir=layout.state,
        spool_dir=layout.spool,
        log_dir=layout.logs,
        run_dir=layout.run,
    )


def write_conf(layout: Layout) -> None:
    """Write slurm.conf to the scratch dir and /etc/slurm (so plain sbatch works).

    Files are only rewritten when their content changes, keeping ``start`` idempotent.  A
    change under running daemons is reported, not applied: node definitions need a restart.
    """
    for directory in layout.dirs():
        directory.mkdir(parents=True, exist_ok=True)
    text = render_conf(layout)
    changed = False
    for path in (layout.conf, ETC_CONF):
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed = True
            log(f"wrote {path}")
    if changed and slurmctld_daemon(layout).running():
        log("slurm.conf changed while slurmctld runs: run `stop` then `start` to apply it")


def _spawn(layout: Layout, name: str, program: str, *args: str) -> None:
    """Launch a self-daemonising program, its early stdio appended to a file in the log dir.

    A real file (not sh's pipes) is essential: the daemon inherits the descriptors, and a
    pipe it holds open would make ``sh`` wait forever for EOF.
    """
    path = shutil.which(program)
    if path is None:
        raise ClusterError(f"{program} not found on PATH")
    with layout.daemon_stdio(name).open("ab") as stdio:
        try:
            sh.Command(path)(*args, _out=stdio, _err=stdio, _env=client_env(layout), _timeout=30)
        except sh.ErrorReturnCode as exc:
            raise ClusterError(
                f"{program} {' '.join(args)} exited {exc.exit_code}:\n"
                f"{tail(layout.daemon_stdio(name))}"
            ) from exc


def start_controller(layout: Layout) -> None:
    """Start slurmctld unless running, then wait until it answers ``scontrol ping``."""
    daemon = slurmctld_daemon(layout)
    if daemon.running():
        log(f"slurmctld already running (pid {daemon.pids()[0]})")
    else:
        log("starting slurmctld")
        _spawn(layout, "slurmctld", "slurmctld", "-f", str(layout.conf))
    if not wait_until(lambda: controller_responds(layout), START_TIMEOUT, 1.0):
        raise ClusterError(
            f"slurmctld did not answer within {START_TIMEOUT:.0f} s; "
            f"last lines of {daemon.log_file}:\n{tail(daemon.log_file)}\n"
            f"{tail(layout.daemon_stdio('slurmctld'), 10)}"
        )


def start_node(layout: Layout, node: str) -> None:
    """Start one slurmd unless running, and wait until its process is up."""
    daemon = slurmd_daemon(layout, node)
    if daemon.running():
        return
    log(f"starting slurmd {node}")
    (layout.spool / f"slurmd-{node}").mkdir(parents=True, exist_ok=True)
    _spawn(layout, f"slurmd-{node}", "slurmd", "-N", node, "-f", str(layout.conf))
    if not wait_until(daemon.running, 15.0):
        raise ClusterError(
            f"slurmd {node} did not stay up; last lines of {daemon.log_file}:\n"
            f"{tail(daemon.log_file)}\n{tail(layout.daemon_stdio(f'slurmd-{node}'), 10)}"
        )


def wait_for_nodes(layout: Layout, nodes: Iterable[str], timeout: float = START_TIMEOUT) -> None:
    """Wait until every node is usable in sinfo, else fail with the relevant log tails.

    ReturnToService=2 should bring a restarted slurmd back by itself; if a node whose slurmd
    has been up for a while is still DOWN/DRAINED we resume it once, loudly, because a dev
    cluster that silently stays broken wastes more time than one that heals.
    """
    wanted = list(nodes)
    deadline = time.monotonic() + timeout
    resumed: set[str] = set()
    started = time.monotonic()
    states: dict[str, str] = {}
    while True:
        try:
            states = node_states(layout)
        except (sh.ErrorReturnCode, sh.TimeoutException):
            states = {}
        bad = [n for n in wanted if not state_is_up(states.get(n, "missing"))]
        if not bad:
            return
        if time.monotonic() - started > 15.0:
            for node in bad:
                base = states.get(node, "").rstrip(STATE_FLAGS)
                stuck = base.startswith(("down", "drain")) and "*" not in states.get(node, "")
                if stuck and node not in resumed and slurmd_daemon(layout, node).running():
                    log(f"node {node} is {states[node]} with slurmd up; resuming it")
                    resumed.add(node)
                    try:
                        slurm_cmd(layout, "scontrol", "update", f"NodeName={node}", "State=RESUME")
                    except sh.ErrorReturnCode as exc:
                        log(f"resume {node} failed: {error_text(exc)}")
        if time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    details = "\n".join(
        f"--- {n} is {states.get(n, 'missing')}; {slurmd_daemon(layout, n).log_file}:\n"
        f"{tail(slurmd_daemon(layout, n).log_file, 15)}"
        for n in bad
    )
    raise ClusterError(
        f"nodes not idle after {timeout:.0f} s: {', '.join(bad)}\n{details}\n"
        f"--- {slurmctld_daemon(layout).log_file}:\n"
        f"{tail(slurmctld_daemon(layout).log_file, 15)}"
    )


def daemon_report(layout: Layout) -> list[tuple[str, list[int]]]:
    """(label, pids) for every daemon the cluster needs, in start order."""
    daemons = [munged_daemon(), slurmctld_daemon(layout)]
    daemons += [slurmd_daemon(layout, node) for node in NODES]
    return [(daemon.label, daemon.pids()) for daemon in daemons]


def print_daemons(layout: Layout) -> bool:
    """Print one line per daemon; True when all run."""
    all_up = True
    for label, pids in daemon_report(layout):
        if pids:
            print(f"{label:<12} running (pid {', '.join(map(str, pids))})")
        else:
            print(f"{label:<12} NOT running")
            all_up = False
    return all_up


# --------------------------------------------------------------------------- subcommands


def cmd_start(layout: Layout) -> int:
    """Install, configure and start whatever is missing; then wait for idle nodes."""
    require_root()
    ensure_installed()
    write_conf(layout)
    ensure_munge(layout)
    start_controller(layout)
    for node in NODES:
        start_node(layout, node)
    wait_for_nodes(layout, NODES)
    print(f"Slurm cluster '{CLUSTER_NAME}' is up (scratch dir {layout.root})")
    print_daemons(layout)
    print(slurm_cmd(layout, "sinfo").rstrip())
    print(f"config: {layout.conf} (copied to {ETC_CONF}); logs: {layout.logs}")
    return 0


def cancel_all_jobs(layout: Layout) -> None:
    """Cancel every job before stopping, so no job process outlives the cluster.

    Stopping slurmd leaves slurmstepd and the job's processes running; cancelling first is
    what lets ``stop`` promise that nothing is left behind.
    """
    try:
        out = slurm_cmd(layout, "squeue", "-h", "-o", "%F")
    except (sh.ErrorReturnCode, sh.TimeoutException) as exc:
        log(f"cannot list jobs, not cancelling: {exc}")
        return
    job_ids = sorted(set(out.split()))
    if not job_ids:
        return
    log(f"cancelling {len(job_ids)} job(s): {' '.join(job_ids)}")
    try:
        slurm_cmd(layout, "scancel", *job_ids)
    except sh.ErrorReturnCode as exc:
        log(f"scancel: {error_text(exc)}")

    def queue_empty() -> bool:
        try:
            return not slurm_cmd(layout, "squeue", "-h", "-o", "%i").strip()
        except (sh.ErrorReturnCode, sh.TimeoutException):
            return True

    if not wait_until(queue_empty, STOP_TIMEOUT, 1.0):
        log("jobs still completing; their processes are killed below")


def cmd_stop(layout: Layout, purge: bool) -> int:
    """Stop every daemon this tool started and prove none remains; safe to repeat."""
    require_root()
    if slurmctld_daemon(layout).running() and controller_responds(layout):
        cancel_all_jobs(layout)
    elif scan_processes("slurmstepd"):
        log(
            "slurmctld is down, so running jobs cannot be cancelled; they are killed below, "
            "but after the next start they show RUNNING for about 2 minutes, then NODE_FAIL"
        )
    for node in NODES:
        stop_daemon(slurmd_daemon(layout, node))
    stop_daemon(slurmctld_daemon(layout))
    munged = munged_daemon()
    owned = layout.munged_owned.exists()
    if owned:
        stop_daemon(munged)
        layout.munged_owned.unlink(missing_ok=True)
    elif munged.running():
        log("munged was not started by this tool; leaving it running")

    # Job steps survive their slurmd (e.g. after kill-node, or when the controller was down
    # so nothing could be cancelled); kill each step with its job's processes.
    steps = scan_processes("slurmstepd")
    if steps:
        doomed = steps + descendants(steps)
        log(f"killing leftover job steps and their processes: {doomed}")
        send_signal(doomed, signal.SIGKILL)
    # Fallback by exact process name: catches daemons whose pid files were lost.
    names = ["slurmd", "slurmctld", "slurmstepd"] + (["munged"] if owned else [])
    for name in names:
        if scan_processes(name):
            log(f"killing leftover {name} processes: {scan_processes(name)}")
            sh.pkill("-KILL", "-x", name, _ok_code=[0, 1])
    wait_until(lambda: not any(scan_processes(name) for name in names), 5.0)
    left = {name: scan_processes(name) for name in names if scan_processes(name)}
    for stale in layout.run.glob("*.pid") if layout.run.exists() else []:
        stale.unlink(missing_ok=True)
    if left:
        raise ClusterError(f"processes still running after stop: {left}")
    # Our daemons were re-parented to PID 1; where it reaps lazily their zombies linger in
    # `pgrep` output for a moment.  They are dead, but waiting keeps `pgrep` checks clean.
    if not wait_until(lambda: not any(zombie_count(name) for name in names), 10.0):
        log("stopped daemons remain as zombies until PID 1 reaps them (they are not running)")
    if purge and layout.root.exists():
        shutil.rmtree(layout.root)
        log(f"removed {layout.root}")
    print("Slurm cluster stopped" + (" and scratch dir removed" if purge else ""))
    return 0


def cmd_status(layout: Layout) -> int:
    """Print which daemons run and sinfo; exit 0 only if everything is up."""
    all_up = print_daemons(layout)
    try:
        print(slurm_cmd(layout, "sinfo", timeout=15.0).rstrip())
        states = node_states(layout)
    except (sh.ErrorReturnCode, sh.TimeoutException) as exc:
        text = error_text(exc) if isinstance(exc, sh.ErrorReturnCode) else "sinfo timed out"
        print(f"sinfo failed: {text}")
        return 1
    down = [n for n in NODES if not state_is_up(states.get(n, "missing"))]
    if down:
        listing = ", ".join(f"{n}={states.get(n, 'missing')}" for n in down)
        print(f"nodes not up: {listing}")
    return 0 if all_up and not down else 1


def check_node(node: str) -> str:
    """Reject unknown node names before touching any process."""
    if node not in NODES:
        raise ClusterError(f"unknown node {node!r}; nodes are {', '.join(NODES)}")
    return node


def cmd_restart_node(layout: Layout, node: str) -> int:
    """Restart one slurmd (stopping it first if running) and wait for the node to be up."""
    require_root()
    stop_daemon(slurmd_daemon(layout, check_node(node)))
    start_node(layout, node)
    wait_for_nodes(layout, [node])
    print(f"node {node}: {node_states(layout).get(node)}")
    return 0


def cmd_kill_node(layout: Layout, node: str) -> int:
    """SIGKILL one slurmd without restarting it: simulates a crashed compute node."""
    require_root()
    daemon = slurmd_daemon(layout, check_node(node))
    pids = daemon.pids()
    if not pids:
        print(f"slurmd {node} was not running")
        return 0
    send_signal(pids, signal.SIGKILL)
    if not wait_until(lambda: not daemon.running(), 5.0):
        raise ClusterError(f"slurmd {node} survived SIGKILL")
    print(f"killed slurmd {node} (pid {', '.join(map(str, pids))})")
    return 0


def cmd_stop_controller(layout: Layout) -> int:
    """Stop slurmctld only (SIGTERM, so it saves job state); nodes and jobs keep running."""
    require_root()
    stopped = stop_daemon(slurmctld_daemon(layout))
    print("slurmctld stopped" if stopped else "slurmctld was not running")
    return 0


def cmd_start_controller(layout: Layout) -> int:
    """Start slurmctld again from its saved state and wait until the nodes are back."""
    require_root()
    write_conf(layout)
    start_controller(layout)
    wait_for_nodes(layout, [n for n in NODES if slurmd_daemon(layout, n).running()])
    print(f"slurmctld running (pid {slurmctld_daemon(layout).pids()[0]})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface; one subcommand per action tests and developers need."""
    parser = argparse.ArgumentParser(
        prog="cluster.py", description="Run a real single-machine Slurm cluster for hipercow."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("start", help="install if needed, start missing daemons, wait for nodes")
    stop = sub.add_parser("stop", help="cancel jobs and stop all daemons started by this tool")
    stop.add_argument("--purge", action="store_true", help="also delete the scratch directory")
    sub.add_parser("status", help="show daemons and sinfo; exit 0 only if all up")
    for name, text in (
        ("restart-node", "restart one slurmd and wait for its node"),
        ("kill-node", "SIGKILL one slurmd (simulate a node crash)"),
    ):
        node_parser = sub.add_parser(name, help=text)
        node_parser.add_argument("node", choices=NODES)
    sub.add_parser("stop-controller", help="stop slurmctld only")
    sub.add_parser("start-controller", help="start slurmctld again")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Dispatch a subcommand; report ClusterError as one readable message, exit 1."""
    args = build_parser().parse_args(argv)
    layout = Layout.from_env()
    actions: dict[str, Callable[[], int]] = {
        "start": lambda: cmd_start(layout),
        "stop": lambda: cmd_stop(layout, args.purge),
        "status": lambda: cmd_status(layout),
        "restart-node": lambda: cmd_restart_node(layout, args.node),
        "kill-node": lambda: cmd_kill_node(layout, args.node),
        "stop-controller": lambda: cmd_stop_controller(layout),
        "start-controller": lambda: cmd_start_controller(layout),
    }
    try:
        return actions[args.command]()
    except ClusterError as exc:
        log(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
