"""The driver's options, set with `hipercow driver configure windows-hpc KEY=VALUE ...`.

Options are saved per machine (mount points differ between machines) as
plain text and numbers, and every value is checked when it is parsed, so a
bad share or URL is refused at `configure` rather than at the first submit.
List-like options (`shares`, `linux_mounts`) are comma-separated text that
reads the same in the saved file as on the command line.
"""

from __future__ import annotations

import re
import sys
from typing import Literal

import msgspec

from hipercow_windows_hpc.mounts import Mount
from hipercow_windows_hpc.paths import DEFAULT_LINUX_MOUNTS, LinuxMount, parse_linux_mounts
from hipercow_windows_hpc.shares import parse_shares

DEFAULT_PORTAL_URL = "https://mrcdata.dide.ic.ac.uk/hpc/"
DEFAULT_HEAD_NODE = "wpia-hn"
DEFAULT_RUNNER = "hipercow-task-run"

Platform = Literal["windows", "linux"]

_PYTHON_VERSION = re.compile(r"\d+\.\d+(\.\d+)?")


class WindowsHpcOptions(msgspec.Struct, forbid_unknown_fields=True):
    """Options of the `windows-hpc` driver.

    - `platform`: `windows` (Windows nodes) or `linux` (the LinuxNodes queue).
    - `portal_url`, `head_node`: where the portal is and which cluster it drives.
    - `python_version`: the Python the nodes should use (checked against the
      cluster's software; on Linux nodes its environment module is loaded).
    - `windows_runner`, `linux_runner`: the command that runs a task on a node;
      `{python_version}` in it is replaced. It is given `--root DIR TASK_ID`.
    - `shares`: shares given explicitly, `LOCAL=//server/share[:X],...`.
    - `detect_shares`: also use the shares mounted on this machine.
    - `linux_mounts`: extra rules `//server/share=/mnt/point,...`, consulted
      before the built-in ones, saying where shares are on Linux nodes.
    - `timeout`, `retries`, `retry_wait`: seconds per portal request, extra
      attempts after a transient failure, and the first pause between them.
    - `cancel_timeout`: seconds a cancel may take (0: no limit). The portal's
      cancels can take a long while, and one that times out is checked in the
      listing rather than sent again.
    - `kerberos_renew`: on Linux nodes, renew the job's Kerberos ticket every
      this many seconds while the task runs (0: never), so long tasks keep
      their access to the shares.
    - `max_poll_interval`: the longest pause between polls while waiting.
    - `cluster_info_ttl`: seconds a cached cluster description stays fresh.
    - `conda_executable`: a micromamba, mamba or conda on the Linux nodes for
      conda environments to be built with (default: py-rattler, no tool).
    """

    platform: Platform = "windows"
    portal_url: str = DEFAULT_PORTAL_URL
    head_node: str = DEFAULT_HEAD_NODE
    python_version: str = f"{sys.version_info.major}.{sys.version_info.minor}"
    windows_runner: str = DEFAULT_RUNNER
    linux_runner: str = DEFAULT_RUNNER
    shares: str = ""
    detect_shares: bool = True
    linux_mounts: str = ""
    timeout: float = 30.0
    cancel_timeout: float = 600.0
    kerberos_renew: float = 3600.0
    retries: int = 3
    retry_wait: float = 1.0
    max_poll_interval: float = 10.0
    cluster_info_ttl: float = 3600.0
    conda_executable: str | None = None

    def __post_init__(self) -> None:
        url = self.portal_url.strip()
        if not re.match(r"https?://[^/\s]+", url):
            raise ValueError(f"portal_url: '{self.portal_url}' is not an http(s) URL")
        self.portal_url = url if url.endswith("/") else url + "/"
        if not self.head_node or re.search(r"[/\s]", self.head_node):
            raise ValueError(f"head_node: '{self.head_node}' is not a host name")
        if not _PYTHON_VERSION.fullmatch(self.python_version):
            raise ValueError(
                f"python_version: '{self.python_version}' is not a version such as 3.12"
            )
        for name in ("windows_runner", "linux_runner"):
            if not getattr(self, name).strip():
                raise ValueError(f"{name}: the runner command is empty")
        if self.timeout <= 0 or self.retry_wait < 0 or self.retries < 0:
            raise ValueError("timeout must be positive; retries and retry_wait not negative")
        if self.cancel_timeout < 0 or self.kerberos_renew < 0:
            raise ValueError("cancel_timeout and kerberos_renew must not be negative (0: off)")
        if self.max_poll_interval <= 0 or self.cluster_info_ttl < 0:
            raise ValueError("max_poll_interval must be positive; cluster_info_ttl not negative")
        self.explicit_shares()
        self.linux_rules()

    def explicit_shares(self) -> tuple[Mount, ...]:
        return parse_shares(self.shares)

    def linux_rules(self) -> tuple[LinuxMount, ...]:
        """The user's rules first (they win on ties), then the built-in table."""
        return (*parse_linux_mounts(self.linux_mounts), *DEFAULT_LINUX_MOUNTS)

    def runner(self) -> str:
        """The runner command for this platform, with `{python_version}` filled in."""
        template = self.linux_runner if self.platform == "linux" else self.windows_runner
        return template.replace("{python_version}", self.python_version)
