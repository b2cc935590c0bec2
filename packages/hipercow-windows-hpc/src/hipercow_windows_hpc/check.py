"""`hipercow windows-hpc check`: is everything in place to run tasks on the cluster?

Each check says what it found, and on failure what to do; later checks that
depend on a failed one are reported as skipped rather than failing again with
a confusing reason. The results are data, so the CLI only renders them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from hipercow_core import __version__ as core_version
from hipercow_core.errors import DriverError
from hipercow_core.root import Root
from hipercow_windows_hpc import __version__
from hipercow_windows_hpc.client import PortalClient
from hipercow_windows_hpc.cluster import build_cluster_info, python_module, python_versions
from hipercow_windows_hpc.credentials import Credentials, load_credentials
from hipercow_windows_hpc.driver import WindowsHpcDriver, make_client
from hipercow_windows_hpc.mounts import Mount, detect_mounts
from hipercow_windows_hpc.options import WindowsHpcOptions


class Check(NamedTuple):
    """One line of the report: passed or not, what was checked, what was found, what to do."""

    ok: bool
    what: str
    detail: str
    hint: str | None = None


def run_checks(
    root: Root | None,
    options: WindowsHpcOptions,
    *,
    credentials: Callable[[], Credentials] = load_credentials,
    mounts: Callable[[], list[Mount]] = detect_mounts,
) -> list[Check]:
    """Credentials, portal, login, project share and versions, in that order."""
    client = make_client(options, credentials, share_session=False)
    checks = [_credentials(credentials)]
    portal, cluster = _portal(client, options)
    checks.append(portal)
    if not checks[0].ok:
        checks.append(Check(False, "login", "skipped: no credentials"))
    elif not portal.ok:
        checks.append(Check(False, "login", "skipped: the portal is not reachable"))
    else:
        checks.append(_login(client))
    checks.append(_share(root, options, credentials, mounts))
    checks.append(_versions(client, options, cluster) if cluster else _versions_offline())
    return checks


def _credentials(credentials: Callable[[], Credentials]) -> Check:
    try:
        found = credentials()
    except DriverError as e:
        return Check(False, "credentials", e.message, e.hint)
    return Check(True, "credentials", f"stored in the system keyring for '{found.username}'")


def _portal(
    client: PortalClient, options: WindowsHpcOptions
) -> tuple[Check, dict[str, Any] | None]:
    try:
        info = client.cluster_info(options.platform)
    except DriverError as e:
        return Check(False, "portal", e.message, e.hint), None
    name = info.get("name", options.head_node)
    return Check(True, "portal", f"{client.url} answers for cluster '{name}'"), info


def _login(client: PortalClient) -> Check:
    try:
        client.login()
    except DriverError as e:
        return Check(False, "login", e.message, e.hint)
    user = client.username
    client.logout()
    return Check(True, "login", f"logged in as '{user}' with access to '{client.head_node}'")


def _share(
    root: Root | None,
    options: WindowsHpcOptions,
    credentials: Callable[[], Credentials],
    mounts: Callable[[], list[Mount]],
) -> Check:
    if root is None:
        return Check(
            False,
            "project share",
            "not inside a hipercow project",
            "Run this from your project directory (after 'hipercow init').",
        )
    driver = WindowsHpcDriver(root, options, credentials=credentials, mounts=mounts)
    try:
        where = driver.project_location()
        if options.platform == "linux":
            seen = f"{where.linux(options.linux_rules())} on Linux nodes"
        else:
            seen = f"{where.windows()} on Windows nodes"
    except DriverError as e:
        return Check(False, "project share", e.message, e.hint)
    drives = ", ".join(f"{s.drive} {s.remote}" for s in driver.shares)
    return Check(
        True,
        "project share",
        f"'{root.project}' is {where.unc().windows()}, {seen} (shares: {drives})",
    )


def _versions(client: PortalClient, options: WindowsHpcOptions, cluster: dict[str, Any]) -> Check:
    here = f"hipercow-windows-hpc {__version__}, hipercow-core {core_version} here"
    try:
        info = build_cluster_info(cluster, client.software(), options.platform, client.url)
    except (DriverError, KeyError, TypeError, ValueError) as e:
        return Check(False, "versions", f"{here}; cannot list the cluster's software: {e}")
    wanted, platform = options.python_version, options.platform
    available = python_versions(info, platform)
    matching = [v for v in available if v == wanted or v.startswith(wanted + ".")]
    if not matching:
        return Check(
            False,
            "versions",
            f"{here}; Python {wanted} is not on the {platform} nodes "
            f"(they have: {', '.join(available) or 'none listed'})",
            "Choose one they have: hipercow driver configure windows-hpc python_version=X.Y",
        )
    module = python_module(info, platform, wanted) if platform == "linux" else None
    extra = f" (module {module})" if module else ""
    return Check(True, "versions", f"{here}; Python {wanted} on the {platform} nodes{extra}")


def _versions_offline() -> Check:
    return Check(
        False,
        "versions",
        f"hipercow-windows-hpc {__version__}, hipercow-core {core_version} here; "
        "skipped the cluster's software: the portal is not reachable",
    )
