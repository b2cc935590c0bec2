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
    uv run python tools/slurm-cluster/cluster.py configure --accounting MaxJobCount=20000
    uv run python tools/slurm-cluster/cluster.py configure --reset
    uv run python tools/slurm-cluster/cluster.py stop-dbd
    uv run python tools/slurm-cluster/cluster.py start-dbd
    uv run python tools/slurm-cluster/cluster.py stop [--purge]

``configure`` changes the cluster the way a test needs it (accounting through slurmdbd and
a MariaDB of its own, any slurm.conf setting), restarts the daemons to apply it and saves
it, so a later ``start`` brings the same cluster back; ``configure --reset`` returns to the
shipped configuration.  In accounting mode the cluster, an account and root's association
exist, and ``sacctmgr`` can set QOS or association limits (``MaxSubmitJobs``).

Scratch directory (state, spool, logs, pid files): ``$HIPERCOW_SLURM_DIR`` or
``/tmp/hipercow-slurm``.  Needs root (it installs packages and runs the daemons as root).
Every external command goes through ``sh``, per the project rule for POSIX-only code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
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
PACKAGES: tuple[str, ...] = (
    "slurmctld",
    "slurmd",
    "slurm-client",
    "munge",
    "slurmdbd",
    "mariadb-server",
    "lmod",
)
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
    "slurmdbd",
    "sacct",
    "sacctmgr",
    "mariadbd",
    "mariadb-install-db",
)
#: Lmod's shell start-up file (not on PATH): nodes then have `module`, as real clusters do.
LMOD_INIT = Path("/etc/profile.d/lmod.sh")

# Accounting: slurmdbd on its own port, storing into a MariaDB that listens on another
# port of its own (never the machine's 3306), with its data in the scratch directory.
DBD_PORT = 6819
DB_PORT = 3317
DB_NAME = "slurm_acct_db"
DB_USER = "slurm"
#: slurm.conf settings of accounting mode; `AccountingStorageEnforce` makes QOS and
#: association limits (MaxSubmitJobs) apply, as on real clusters.
ACCOUNTING_SETTINGS: dict[str, str] = {
    "AccountingStorageType": "accounting_storage/slurmdbd",
    "AccountingStorageHost": "localhost",
    "AccountingStoragePort": str(DBD_PORT),
    "AccountingStorageEnforce": "associations,limits,qos",
    "JobAcctGatherType": "jobacct_gather/linux",
    "JobAcctGatherFrequency": "5",
}

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
    def profile(self) -> Path:
        """The saved `configure` choices, applied again by every ``start``."""
        return self.root / "profile.json"

    @property
    def dbd_conf(self) -> Path:
        """slurmdbd.conf: beside slurm.conf, where slurmdbd 22.05 looks (it has no -f)."""
        return self.root / "slurmdbd.conf"

    @property
    def db_data(self) -> Path:
        """MariaDB's data directory."""
        return self.root / "mariadb"

    @property
    def db_socket(self) -> Path:
        return self.run / "mariadb.sock"

    @property
    def db_secret(self) -> Path:
        """The slurm database user's password, made once (mode 600)."""
        return self.root / "mariadb.secret"

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


def slurmdbd_daemon(layout: Layout) -> Daemon:
    """The accounting daemon, between slurmctld and the database."""
    return Daemon("slurmdbd", "slurmdbd", layout.run / "slurmdbd.pid", layout.logs / "slurmdbd.log")


def mariadb_daemon(layout: Layout) -> Daemon:
    """The database behind slurmdbd; the socket marker tells it from any other MariaDB."""
    return Daemon(
        "mariadbd",
        "mariadbd",
        layout.run / "mariadb.pid",
        layout.logs / "mariadb.log",
        (f"--socket={layout.db_socket}",),
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


def _started_for(layout: Layout, pid: int) -> bool:
    """Whether a process belongs to this cluster: its argv or environment names our config.

    Daemons get ``-f <conf>`` or ``SLURM_CONF=<conf>`` from us, and job steps inherit the
    environment of the slurmd that forked them; another cluster's processes carry neither.
    """
    if str(layout.conf) in _proc_argv(pid):
        return True
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"SLURM_CONF={layout.conf}".encode() in environ.split(b"\0")


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


def leftovers(layout: Layout, comm: str) -> list[int]:
    """This cluster's live processes named ``comm``; another cluster's are left alone."""
    return [pid for pid in scan_processes(comm) if _started_for(layout, pid)]


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


@dataclass(frozen=True)
class Profile:
    """What ``configure`` chose: accounting on or off, and slurm.conf settings to change.

    Saved in the scratch directory, so every later ``start`` (CI, or a test bringing the
    cluster back after someone stopped it) renders the same configuration.
    """

    accounting: bool = False
    settings: tuple[tuple[str, str], ...] = ()

    def conf_settings(self) -> dict[str, str]:
        """The slurm.conf lines this profile replaces or adds, in order."""
        chosen = dict(ACCOUNTING_SETTINGS) if self.accounting else {}
        chosen.update(self.settings)
        return chosen


def load_profile(layout: Layout) -> Profile:
    """The saved profile, or the shipped configuration when none was saved."""
    try:
        raw = json.loads(layout.profile.read_text())
    except (OSError, ValueError):
        return Profile()
    return Profile(
        bool(raw.get("accounting", False)),
        tuple((str(k), str(v)) for k, v in dict(raw.get("settings", {})).items()),
    )


def save_profile(layout: Layout, profile: Profile) -> None:
    """Keep the profile for later starts; the shipped configuration is no file at all."""
    layout.root.mkdir(parents=True, exist_ok=True)
    if profile == Profile():
        layout.profile.unlink(missing_ok=True)
        return
    text = json.dumps({"accounting": profile.accounting, "settings": dict(profile.settings)})
    layout.profile.write_text(text + "\n")


def parse_settings(words: Iterable[str], base: Profile) -> tuple[tuple[str, str], ...]:
    """``Name=Value`` words merged over the base profile's; ``Name=`` drops a setting."""
    merged = dict(base.settings)
    for word in words:
        name, sep, value = word.partition("=")
        if not sep or not name.isalnum():
            raise ClusterError(f"not a slurm.conf setting: {word!r} (write Name=Value)")
        if value:
            merged[name] = value
        else:
            merged.pop(name, None)
    return tuple(merged.items())


def apply_settings(text: str, settings: dict[str, str]) -> str:
    """Replace each setting's line in a rendered slurm.conf, or add it at the end."""
    lines = text.splitlines()
    added: list[str] = []
    for name, value in settings.items():
        prefix = f"{name.lower()}="
        found = [i for i, line in enumerate(lines) if line.lower().startswith(prefix)]
        for index in found:
            lines[index] = f"{name}={value}"
        if not found:
            added.append(f"{name}={value}")
    if added:
        lines += ["", "# Set by `cluster.py configure`:", *added]
    return "\n".join(lines) + "\n"


def render_conf(layout: Layout, profile: Profile) -> str:
    """Fill the shipped slurm.conf.in template with this layout's paths, then the profile.

    ``substitute`` (not ``safe_substitute``) so a placeholder typo fails loudly.
    """
    template = string.Template(TEMPLATE.read_text())
    text = template.substitute(
        cluster_name=CLUSTER_NAME,
        ctld_port=CTLD_PORT,
        slurmd_timeout=SLURMD_TIMEOUT,
        state_dir=layout.state,
        spool_dir=layout.spool,
        log_dir=layout.logs,
        run_dir=layout.run,
    )
    return apply_settings(text, profile.conf_settings())


def write_conf(layout: Layout, profile: Profile | None = None) -> bool:
    """Write slurm.conf to the scratch dir and /etc/slurm (so plain sbatch works).

    Files are only rewritten when their content changes, keeping ``start`` idempotent;
    True when one was.  A change under running daemons is reported by the callers that do
    not apply it (``start``): ``configure`` restarts the daemons itself.
    """
    for directory in layout.dirs():
        directory.mkdir(parents=True, exist_ok=True)
    text = render_conf(layout, load_profile(layout) if profile is None else profile)
    changed = False
    for path in (layout.conf, ETC_CONF):
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed = True
            log(f"wrote {path}")
    return changed


# --------------------------------------------------------------------------- accounting


def db_password(layout: Layout) -> str:
    """The slurm database user's password: made on first use, then read back."""
    if layout.db_secret.exists():
        return layout.db_secret.read_text().strip()
    password = secrets.token_hex(16)
    layout.db_secret.write_text(password + "\n")
    layout.db_secret.chmod(0o600)
    return password


def mariadb(layout: Layout, sql: str) -> str:
    """Run SQL as MariaDB's root through its socket (root logs in by socket, no password)."""
    return str(
        sh.mariadb("--no-defaults", f"--socket={layout.db_socket}", "-N", "-e", sql, _timeout=30)
    )


def database_answers(layout: Layout) -> bool:
    try:
        return mariadb(layout, "SELECT 1").strip() == "1"
    except (sh.ErrorReturnCode, sh.TimeoutException):
        return False


def start_database(layout: Layout) -> None:
    """A MariaDB of the cluster's own: data in the scratch dir, on port DB_PORT only.

    ``--no-defaults`` keeps the machine's /etc/mysql settings (and any MariaDB it runs)
    out of it; ``setsid -f`` detaches it, since mariadbd does not daemonise itself.
    """
    daemon = mariadb_daemon(layout)
    if not daemon.running():
        if not (layout.db_data / "mysql").is_dir():
            log(f"creating the accounting database in {layout.db_data}")
            layout.db_data.mkdir(parents=True, exist_ok=True)
            try:
                sh.Command("mariadb-install-db")(
                    "--no-defaults",
                    "--user=root",
                    f"--datadir={layout.db_data}",
                    "--auth-root-authentication-method=socket",
                    "--skip-test-db",
                    _timeout=120,
                )
            except sh.ErrorReturnCode as exc:
                raise ClusterError(f"mariadb-install-db failed:\n{error_text(exc)}") from exc
        log(f"starting mariadbd on port {DB_PORT}")
        with layout.daemon_stdio("mariadb").open("ab") as stdio:
            sh.setsid(
                "-f",
                "mariadbd",
                "--no-defaults",
                "--user=root",
                f"--datadir={layout.db_data}",
                f"--port={DB_PORT}",
                "--bind-address=127.0.0.1",
                f"--socket={layout.db_socket}",
                f"--pid-file={daemon.pid_file}",
                f"--log-error={daemon.log_file}",
                "--innodb-buffer-pool-size=64M",
                _out=stdio,
                _err=stdio,
                _timeout=30,
            )
    if not wait_until(lambda: database_answers(layout), START_TIMEOUT):
        raise ClusterError(f"mariadbd did not answer; {daemon.log_file}:\n{tail(daemon.log_file)}")
    password = db_password(layout)
    grants = " ".join(
        f"CREATE USER IF NOT EXISTS '{DB_USER}'@'{host}' IDENTIFIED BY '{password}';"
        f" GRANT ALL ON {DB_NAME}.* TO '{DB_USER}'@'{host}';"
        for host in ("localhost", "127.0.0.1")
    )
    mariadb(layout, grants)


def write_dbd_conf(layout: Layout) -> None:
    """slurmdbd.conf, mode 600 (slurmdbd refuses a readable one: it holds a password)."""
    daemon = slurmdbd_daemon(layout)
    text = "\n".join(
        [
            "# Written by tools/slurm-cluster/cluster.py for accounting mode.",
            "AuthType=auth/munge",
            "DbdHost=localhost",
            f"DbdPort={DBD_PORT}",
            "SlurmUser=root",
            "StorageType=accounting_storage/mysql",
            "StorageHost=127.0.0.1",
            f"StoragePort={DB_PORT}",
            f"StorageUser={DB_USER}",
            f"StoragePass={db_password(layout)}",
            f"StorageLoc={DB_NAME}",
            f"PidFile={daemon.pid_file}",
            f"LogFile={daemon.log_file}",
            "DebugLevel=info",
            "",
        ]
    )
    if not layout.dbd_conf.exists() or layout.dbd_conf.read_text() != text:
        layout.dbd_conf.write_text(text)
    layout.dbd_conf.chmod(0o600)


def dbd_answers(layout: Layout) -> bool:
    """Whether slurmdbd listens on its port.

    A connection, not a `sacctmgr` call: restarted under a running slurmctld,
    slurmdbd first takes in what slurmctld kept for it, and sacctmgr's answer
    can wait for that.
    """
    if not slurmdbd_daemon(layout).running():
        return False
    try:
        with socket.create_connection(("127.0.0.1", DBD_PORT), timeout=2.0):
            return True
    except OSError:
        return False


def start_dbd(layout: Layout) -> None:
    """Start slurmdbd (and its database) unless running, and wait until sacctmgr answers."""
    start_database(layout)
    write_dbd_conf(layout)
    daemon = slurmdbd_daemon(layout)
    if not daemon.running():
        log(f"starting slurmdbd on port {DBD_PORT}")
        _spawn(layout, "slurmdbd", "slurmdbd")
    if not wait_until(lambda: dbd_answers(layout), START_TIMEOUT, 1.0):
        raise ClusterError(
            f"slurmdbd did not answer within {START_TIMEOUT:.0f} s; {daemon.log_file}:\n"
            f"{tail(daemon.log_file)}\n{tail(layout.daemon_stdio('slurmdbd'), 10)}"
        )


def ensure_cluster_registered(layout: Layout) -> None:
    """Register the cluster with slurmdbd before slurmctld starts.

    slurmctld would register it by itself, but only minutes later; until then ``sacct``
    knows nothing.  root's association (account ``root``) comes with the database, so
    enforced limits let root's jobs in; ``sacctmgr`` sets limits on it or on a QOS.
    """
    out = slurm_cmd(layout, "sacctmgr", "--noheader", "--parsable2", "list", "cluster")
    if CLUSTER_NAME in out.replace("|", " ").split():
        return
    log(f"sacctmgr add cluster {CLUSTER_NAME}")
    try:
        slurm_cmd(layout, "sacctmgr", "-i", "add", "cluster", CLUSTER_NAME)
    except sh.ErrorReturnCode as exc:
        raise ClusterError(f"sacctmgr add cluster: {error_text(exc)}") from exc


def start_accounting(layout: Layout) -> None:
    start_dbd(layout)
    ensure_cluster_registered(layout)


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
    daemons = [munged_daemon()]
    if load_profile(layout).accounting:
        daemons += [mariadb_daemon(layout), slurmdbd_daemon(layout)]
    daemons.append(slurmctld_daemon(layout))
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
    profile = load_profile(layout)
    if write_conf(layout, profile) and slurmctld_daemon(layout).running():
        log("slurm.conf changed while slurmctld runs: run `stop` then `start` to apply it")
    ensure_munge(layout)
    if profile.accounting:
        start_accounting(layout)
    start_controller(layout)
    for node in NODES:
        start_node(layout, node)
    wait_for_nodes(layout, NODES)
    mode = "with accounting" if profile.accounting else "without accounting"
    print(f"Slurm cluster '{CLUSTER_NAME}' is up {mode} (scratch dir {layout.root})")
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
    stop_daemon(slurmdbd_daemon(layout))
    stop_daemon(mariadb_daemon(layout), timeout=30.0)
    munged = munged_daemon()
    owned = layout.munged_owned.exists()
    if owned:
        stop_daemon(munged)
        layout.munged_owned.unlink(missing_ok=True)
    elif munged.running():
        log("munged was not started by this tool; leaving it running")

    # Job steps survive their slurmd (e.g. after kill-node, or when the controller was down
    # so nothing could be cancelled); kill each step with its job's processes.
    steps = leftovers(layout, "slurmstepd")
    if steps:
        doomed = steps + descendants(steps)
        log(f"killing leftover job steps and their processes: {doomed}")
        send_signal(doomed, signal.SIGKILL)
    # Fallback for daemons whose pid files were lost: by name, but only this cluster's.
    names = ["slurmd", "slurmctld", "slurmstepd", "slurmdbd"]
    for name in names:
        if found := leftovers(layout, name):
            log(f"killing leftover {name} processes: {found}")
            send_signal(found, signal.SIGKILL)
    if owned and munged.running():
        send_signal(munged.pids(), signal.SIGKILL)
    wait_until(lambda: not any(leftovers(layout, name) for name in names), 5.0)
    left = {name: found for name in names if (found := leftovers(layout, name))}
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


def restart_daemons(layout: Layout) -> None:
    """Stop slurmctld and every slurmd, then start them on the current slurm.conf.

    Jobs survive: slurmctld saves them, and their processes belong to slurmstepd.  Some
    settings (MaxJobCount, accounting, JobAcctGather*) take effect only this way.
    """
    for node in NODES:
        stop_daemon(slurmd_daemon(layout, node))
    stop_daemon(slurmctld_daemon(layout))
    start_controller(layout)
    for node in NODES:
        start_node(layout, node)
    wait_for_nodes(layout, NODES)


def cmd_configure(layout: Layout, accounting: bool | None, reset: bool, settings: list[str]) -> int:
    """Change and save the cluster's configuration, then apply it (restarting if needed)."""
    require_root()
    base = Profile() if reset else load_profile(layout)
    profile = Profile(
        base.accounting if accounting is None else accounting, parse_settings(settings, base)
    )
    save_profile(layout, profile)
    ensure_installed()
    changed = write_conf(layout, profile)
    ensure_munge(layout)
    if profile.accounting:
        start_accounting(layout)
    if changed and slurmctld_daemon(layout).running():
        log("applying the new slurm.conf: restarting slurmctld and the nodes")
        restart_daemons(layout)
    else:
        start_controller(layout)
        for node in NODES:
            start_node(layout, node)
        wait_for_nodes(layout, NODES)
    for name, value in profile.conf_settings().items():
        print(f"{name}={value}")
    print("accounting: " + ("on (slurmdbd)" if profile.accounting else "off"))
    return 0


def cmd_stop_dbd(layout: Layout) -> int:
    """Stop slurmdbd only: sacct then fails, and slurmctld queues what it would record."""
    require_root()
    stopped = stop_daemon(slurmdbd_daemon(layout))
    print("slurmdbd stopped" if stopped else "slurmdbd was not running")
    return 0


def cmd_start_dbd(layout: Layout) -> int:
    """Start slurmdbd (and its database) again and wait until it answers."""
    require_root()
    start_dbd(layout)
    print(f"slurmdbd running (pid {slurmdbd_daemon(layout).pids()[0]})")
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
    configure = sub.add_parser(
        "configure", help="change slurm.conf settings or accounting, apply and keep them"
    )
    mode = configure.add_mutually_exclusive_group()
    mode.add_argument("--accounting", dest="accounting", action="store_true", default=None)
    mode.add_argument("--no-accounting", dest="accounting", action="store_false")
    configure.add_argument(
        "--reset", action="store_true", help="start from the shipped configuration"
    )
    configure.add_argument("settings", nargs="*", metavar="Name=Value")
    sub.add_parser("stop-dbd", help="stop slurmdbd only (accounting unreachable)")
    sub.add_parser("start-dbd", help="start slurmdbd again")
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
        "configure": lambda: cmd_configure(layout, args.accounting, args.reset, args.settings),
        "stop-dbd": lambda: cmd_stop_dbd(layout),
        "start-dbd": lambda: cmd_start_dbd(layout),
    }
    try:
        return actions[args.command]()
    except ClusterError as exc:
        log(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
