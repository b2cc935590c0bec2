"""`hipercow windows-hpc authenticate`: credentials checked with the portal, kept in the keyring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hpc_portal import PortalStandin
from windows_hpc.helpers import CAROL_PASSWORD, PASSWORD, USER, Configure, PortalCli, calls, logins

pytestmark = pytest.mark.portal


def stored(keyring_env: dict[str, str]) -> dict[str, str]:
    path = Path(keyring_env["HIPERCOW_TEST_KEYRING"])
    return json.loads(path.read_text()) if path.exists() else {}


def test_set_check_and_clear(
    hpc: PortalCli, configure: Configure, portal: PortalStandin, keyring_env: dict[str, str]
) -> None:
    configure()
    done = hpc(
        "windows-hpc", "authenticate", "set", "--username", f"DIDE\\{USER}", stdin=PASSWORD + "\n"
    )
    assert f"✔ Stored the credentials for '{USER}'" in done.stdout
    assert set(stored(keyring_env).values()) == {USER, PASSWORD}
    [login] = logins(portal)
    assert login["fields"] == {"us": USER, "pw": "***", "hpcfunc": "login"}
    assert login["outcome"] == "ok" and login["accept"] == "text/plain"
    [heads] = calls(portal, "_listheadnodes.php")
    assert heads["fields"] == {"user": ""} and heads["session"] == login["session"]
    assert [c["method"] for c in calls(portal, "logout.php")] == ["GET"]

    checked = hpc("windows-hpc", "authenticate", "check")
    assert f"Logged in to {portal.url} as '{USER}'" in checked.stdout
    assert len(logins(portal)) == 2

    assert "Removed" in hpc("windows-hpc", "authenticate", "clear").stdout
    assert stored(keyring_env) == {}
    again = hpc("windows-hpc", "authenticate", "check", check=False)
    assert again.code == 1
    assert "Error: no portal credentials are stored on this machine" in again.stderr
    assert "hipercow windows-hpc authenticate set" in again.stderr


def test_a_wrong_password_is_a_clear_error_and_stores_nothing(
    hpc: PortalCli, configure: Configure, portal: PortalStandin, keyring_env: dict[str, str]
) -> None:
    configure()
    done = hpc("windows-hpc", "authenticate", "set", "-u", USER, stdin="not-it\n", check=False)
    assert done.code == 1
    assert done.stderr.splitlines() == [
        f"Error: the portal did not accept the password for '{USER}'",
        "  Run 'hipercow windows-hpc authenticate set' with your current DIDE password.",
    ]
    assert stored(keyring_env) == {}
    assert [c["outcome"] for c in logins(portal)] == ["wrong-password"]

    hpc("windows-hpc", "authenticate", "set", "-u", USER, stdin=PASSWORD)
    hpc("windows-hpc", "authenticate", "set", "-u", USER, stdin="wrong again", check=False)
    assert set(stored(keyring_env).values()) == {USER, PASSWORD}


def test_the_no_access_user_gets_its_own_message(
    hpc: PortalCli, configure: Configure, portal: PortalStandin, keyring_env: dict[str, str]
) -> None:
    configure()
    done = hpc(
        "windows-hpc", "authenticate", "set", "-u", "carol", stdin=CAROL_PASSWORD, check=False
    )
    assert done.code == 1
    assert done.stderr.splitlines() == [
        "Error: 'carol' can log in to the portal but has no access to the HPC cluster",
        "  Ask your group's HPC contact to give you access, then try again.",
    ]
    assert stored(keyring_env) == {}
    assert [c["outcome"] for c in logins(portal)] == ["no-access"]


@pytest.mark.parametrize(
    ("name", "message"), [("b ob", "space"), ("DIDE\\", "empty"), ("a#b", "'#'")]
)
def test_bad_user_names_never_reach_the_portal(
    hpc: PortalCli, configure: Configure, portal: PortalStandin, name: str, message: str
) -> None:
    configure()
    done = hpc("windows-hpc", "authenticate", "set", "-u", name, stdin=PASSWORD, check=False)
    assert done.code == 1 and message in done.stderr.splitlines()[0]
    assert portal.calls() == []


def test_the_password_must_come_from_somewhere(hpc: PortalCli, configure: Configure) -> None:
    configure()
    done = hpc("windows-hpc", "authenticate", "set", "-u", USER, stdin="", check=False)
    assert done.code == 1 and "Error: no password given" in done.stderr
    no_name = hpc("windows-hpc", "authenticate", "set", stdin=PASSWORD, check=False)
    assert no_name.code == 1 and "--username" in no_name.stderr
