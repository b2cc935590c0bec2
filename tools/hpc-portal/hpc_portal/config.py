"""Configuration of the stand-in portal.

Everything a test may want to vary lives here as data (users, timings, mount
rules, cluster description), so that tests and the command line configure the
stand-in the same way: from a JSON file, a plain dict, or these dataclasses.
Parsing is strict (unknown keys are errors) because a silently ignored typo in a
test's configuration makes the test prove nothing.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

JsonObject = dict[str, Any]

#: The outcomes a simulated Windows job may have.
OUTCOMES = ("Finished", "Failed")
#: The two kinds of nodes behind the head node, as used in the cluster_info URL.
NODE_OSES = ("windows", "linux")
#: How a missing, lapsed or failed login is answered: HTTP 401 or 403 (what the
#: real portal does now), or the older behaviour, the login page with status 200.
SESSION_MODES = ("401", "403", "login-page")
#: The node table: HPC Pack's own (`NAME - 5  TaskRunning ...`, upper-case names,
#: the head node's rows too), or the layout this stand-in first served.
NODE_TABLE_MODES = ("hpc-pack", "legacy")
#: The key pair naming the Windows and Linux software lists, newer and older.
SOFTWARE_KEY_MODES = ("windows/linux", "software/linuxsoftware")
#: The order of the listing's three time fields: the real one, and the one first served.
LISTING_TIME_MODES = ("start,submit,end", "start,end,submit")
#: What becomes of a job whose dependency failed or was cancelled: cancelled at
#: once, or left Queued for ever (which the real portal may do; nobody knows).
DEPENDENT_MODES = ("cancel", "queued")


class ConfigError(ValueError):
    """A configuration the stand-in cannot honour; raised before anything starts."""


@dataclass
class UserConfig:
    """One account known to the portal.

    ``access`` false models a domain user who can log in but has no HPC rights:
    the portal answers the login with "You don't seem to have any HPC access".
    """

    password: str
    access: bool = True


@dataclass
class Timings:
    """How long jobs take, in seconds (fractions allowed so tests stay fast).

    ``queued`` applies to every job (the least time it stays Queued).
    ``running`` and ``outcome`` apply to simulated Windows jobs only: Linux jobs
    really run, so their running time and outcome are their own. ``transient``
    is how long each of HPC Pack's passing states shows: a new job is
    ``Submitted`` then ``Validating`` for that long each before ``Queued``, and
    a job that ended is ``Finishing`` for that long. ``cancel`` is how long a
    cancel call takes to answer; the job shows ``Canceling`` meanwhile. The
    values are read when a job is submitted (``cancel`` when it is cancelled),
    so changing them later affects new jobs only.
    """

    queued: float = 0.5
    running: float = 1.0
    outcome: str = "Finished"
    transient: float = 0.0
    cancel: float = 0.0

    def validate(self) -> None:
        """Reject values the state machine cannot use."""
        if min(self.queued, self.running, self.transient, self.cancel) < 0:
            raise ConfigError("timings must not be negative")
        if self.outcome not in OUTCOMES:
            raise ConfigError(f"timings.outcome must be one of {OUTCOMES}, not {self.outcome!r}")


def default_cluster_info(head_node: str, node_os: str) -> JsonObject:
    """The cluster_info answer of the real portal's shape for one kind of node."""
    if node_os == "windows":
        return {
            "name": head_node,
            "node_os": "windows",
            "max_cores": 32,
            "max_ram": 512,
            "queues": ["AllNodes", "Testing", "BuildQueue"],
            "default_queue": "AllNodes",
            "build_queue": "BuildQueue",
            "testing_queue": "Testing",
            "redis_url": f"{head_node}.hpc.dide.ic.ac.uk",
            "nodes": ["wpia-001", "wpia-002", "wpia-003", "wpia-004"],
        }
    return {
        "name": head_node,
        "node_os": "linux",
        "max_cores": 32,
        "max_ram": 512,
        "queues": ["LinuxNodes"],
        "default_queue": "LinuxNodes",
        "build_queue": "LinuxNodes",
        "testing_queue": "LinuxNodes",
        "redis_url": f"{head_node}.hpc.dide.ic.ac.uk",
        "nodes": ["wpia-081", "wpia-082"],
    }


def default_software() -> JsonObject:
    """A small software list in the shape of the real cluster_software answer."""
    return {
        "software": [
            {"name": "R", "version": "4.4.1"},
            {"name": "python", "version": "3.11.9"},
            {"name": "python", "version": "3.12.4"},
        ],
        "linuxsoftware": [
            {"name": "R", "version": "4.4.1", "module": "R/4.4.1-gfbf-2023b"},
            {"name": "python", "version": "3.11.9", "module": "Python/3.11.9-GCCcore-13.3.0"},
            {"name": "python", "version": "3.12.4", "module": "Python/3.12.4-GCCcore-13.3.0"},
        ],
    }


@dataclass
class Modes:
    """Where the portal's behaviour has changed or is unknown, which one to serve.

    Each field takes one value of the matching ``*_MODES`` tuple; the defaults
    are the real portal as its recorded answers show it, so a test of an older
    or a possible behaviour says so.
    """

    sessions: str = "403"
    node_table: str = "hpc-pack"
    software_keys: str = "windows/linux"
    listing_times: str = "start,submit,end"
    dependents: str = "cancel"

    def validate(self) -> None:
        """Reject a mode that is not one of its choices."""
        choices = {
            "sessions": SESSION_MODES,
            "node_table": NODE_TABLE_MODES,
            "software_keys": SOFTWARE_KEY_MODES,
            "listing_times": LISTING_TIME_MODES,
            "dependents": DEPENDENT_MODES,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"modes.{name} must be one of {allowed}")

    @property
    def session_status(self) -> int | None:
        """The HTTP status refusing a missing session or a failed login; None: the 200 page."""
        return None if self.sessions == "login-page" else int(self.sessions)


@dataclass
class PortalConfig:
    """The whole configuration of one stand-in portal.

    ``mounts`` maps a Linux mount point as seen on the cluster's Linux nodes
    (``/mnt/cluster``, ``/mnt/homes/bob``) to the local directory that plays
    that share here; LinuxNodes jobs are run with these prefixes rewritten.
    ``windows_shares`` optionally maps UNC share roots (``\\\\server\\share``) to
    local directories: when non-empty, a simulated Windows job fails unless the
    UNC batch file its command names exists there, which catches a driver that
    writes ``run.bat`` somewhere other than where its command points.
    ``windows_outcomes`` overrides ``timings.outcome`` for jobs by job name.
    ``cluster`` holds per-OS overrides merged onto the default cluster_info.
    """

    users: dict[str, UserConfig] = field(default_factory=dict)
    session_ttl: float = 3600.0
    first_job_id: int = 497979
    timings: Timings = field(default_factory=Timings)
    mounts: dict[str, str] = field(default_factory=dict)
    windows_shares: dict[str, str] = field(default_factory=dict)
    windows_outcomes: dict[str, str] = field(default_factory=dict)
    head_node: str = "wpia-hn"
    domain: str = "DIDE"
    base_path: str = "/hpc/"
    cluster: dict[str, JsonObject] = field(default_factory=dict)
    software: JsonObject | None = None
    job_env: dict[str, str] = field(default_factory=dict)
    scratch_dir: str | None = None
    modes: Modes = field(default_factory=Modes)
    offline_nodes: list[str] = field(default_factory=list)

    def validate(self) -> None:
        """Check the configuration as a whole; raise ConfigError on the first problem."""
        for name, user in self.users.items():
            if not name or any(c in name for c in " #\\\t\n"):
                raise ConfigError(f"bad user name {name!r}")
            if not isinstance(user, UserConfig):
                raise ConfigError(f"user {name!r} must be a UserConfig")
        if self.session_ttl <= 0:
            raise ConfigError("session_ttl must be positive")
        if self.first_job_id < 1:
            raise ConfigError("first_job_id must be positive")
        self.timings.validate()
        self.modes.validate()
        for prefix, local in self.mounts.items():
            if not prefix.startswith("/") or prefix == "/" or prefix.endswith("/"):
                raise ConfigError(f"mount prefix {prefix!r} must be absolute, without a final /")
            if not Path(local).is_absolute():
                raise ConfigError(f"mount {prefix!r}: local directory {local!r} must be absolute")
        for unc, local in self.windows_shares.items():
            if not unc.startswith("\\\\") or unc.endswith("\\"):
                raise ConfigError(f"windows share {unc!r} must look like \\\\server\\share")
            if not Path(local).is_absolute():
                raise ConfigError(f"windows share {unc!r}: {local!r} must be absolute")
        for name, outcome in self.windows_outcomes.items():
            if outcome not in OUTCOMES:
                raise ConfigError(f"windows_outcomes[{name!r}] must be one of {OUTCOMES}")
        if not self.head_node or "/" in self.head_node:
            raise ConfigError("head_node must be a plain name")
        if not (self.base_path.startswith("/") and self.base_path.endswith("/")):
            raise ConfigError("base_path must start and end with /")
        if self.base_path.startswith("/_standin/"):
            raise ConfigError("base_path must not be under /_standin/")
        for key in self.cluster:
            if key not in NODE_OSES:
                raise ConfigError(f"cluster keys must be among {NODE_OSES}, not {key!r}")
        for node_os in NODE_OSES:
            info = self.cluster_info(node_os)
            for key in ("queues", "nodes"):
                if not isinstance(info.get(key), list) or not info[key]:
                    raise ConfigError(f"cluster.{node_os}.{key} must be a non-empty list")
            for key in ("max_cores", "max_ram"):
                if not isinstance(info.get(key), int) or info[key] < 1:
                    raise ConfigError(f"cluster.{node_os}.{key} must be a positive integer")
        overlap = set(self.cluster_info("windows")["queues"]) & set(
            self.cluster_info("linux")["queues"]
        )
        if overlap:
            raise ConfigError(f"queues {sorted(overlap)} are both Windows and Linux queues")
        nodes = {n for node_os in NODE_OSES for n in self.cluster_info(node_os)["nodes"]}
        unknown = [n for n in self.offline_nodes if n not in nodes]
        if unknown:
            raise ConfigError(f"offline_nodes names nodes the cluster does not have: {unknown}")
        software = self.software_info()
        for key in ("software", "linuxsoftware"):
            if not isinstance(software.get(key), list):
                raise ConfigError(f"software.{key} must be a list")

    def cluster_info(self, node_os: str) -> JsonObject:
        """The cluster_info JSON for ``node_os``: the defaults with overrides applied."""
        info = default_cluster_info(self.head_node, node_os)
        info.update(copy.deepcopy(self.cluster.get(node_os, {})))
        return info

    def software_info(self) -> JsonObject:
        """The cluster_software JSON."""
        return copy.deepcopy(self.software) if self.software is not None else default_software()

    def queue_os(self, queue: str) -> str | None:
        """Which kind of node a queue (submit template) sends jobs to, or None if unknown."""
        for node_os in NODE_OSES:
            if queue in self.cluster_info(node_os)["queues"]:
                return node_os
        return None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PortalConfig:
        """Build a configuration from JSON-like data, rejecting unknown keys."""
        data = dict(data)
        known = {
            "users",
            "session_ttl",
            "first_job_id",
            "timings",
            "mounts",
            "windows_shares",
            "windows_outcomes",
            "head_node",
            "domain",
            "base_path",
            "cluster",
            "software",
            "job_env",
            "scratch_dir",
            "modes",
            "offline_nodes",
        }
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown configuration keys: {sorted(unknown)}")
        users: dict[str, UserConfig] = {}
        for name, spec in dict(data.pop("users", {})).items():
            if isinstance(spec, UserConfig):
                users[name] = spec
                continue
            if not isinstance(spec, Mapping) or set(spec) - {"password", "access"}:
                raise ConfigError(f"user {name!r}: expected {{password, access}}")
            if not isinstance(spec.get("password"), str):
                raise ConfigError(f"user {name!r}: password must be a string")
            access = bool(spec.get("access", True))
            users[name] = UserConfig(password=spec["password"], access=access)
        timings_spec = data.pop("timings", {})
        if isinstance(timings_spec, Timings):
            timings = timings_spec
        else:
            allowed = {"queued", "running", "outcome", "transient", "cancel"}
            if set(timings_spec) - allowed:
                raise ConfigError(f"timings: expected keys among {sorted(allowed)}")
            timings = Timings(**timings_spec)
        modes_spec = data.pop("modes", {})
        if isinstance(modes_spec, Modes):
            modes = modes_spec
        else:
            allowed = {f.name for f in fields(Modes)}
            if not isinstance(modes_spec, Mapping) or set(modes_spec) - allowed:
                raise ConfigError(f"modes: expected keys among {sorted(allowed)}")
            modes = Modes(**{k: str(v) for k, v in modes_spec.items()})
        config = cls(users=users, timings=timings, modes=modes, **data)
        config.mounts = {k.rstrip("/") if k != "/" else k: str(v) for k, v in config.mounts.items()}
        config.windows_shares = {k.rstrip("\\"): str(v) for k, v in config.windows_shares.items()}
        config.validate()
        return config

    @classmethod
    def from_json_file(cls, path: str | Path) -> PortalConfig:
        """Read a configuration from a JSON file (see the README for the schema)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read configuration {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"configuration {path} must hold a JSON object")
        return cls.from_dict(data)

    @classmethod
    def coerce(cls, config: PortalConfig | Mapping[str, Any] | str | Path | None) -> PortalConfig:
        """Accept whatever callers hand the stand-in: a config, a dict, a JSON path or None."""
        if config is None:
            result = cls()
        elif isinstance(config, PortalConfig):
            result = config
        elif isinstance(config, str | Path):
            return cls.from_json_file(config)
        else:
            return cls.from_dict(config)
        result.validate()
        return result
