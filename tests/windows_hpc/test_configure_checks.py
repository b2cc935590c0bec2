"""Configuring the windows-hpc driver says at once when no portal login is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from hpc_portal import PortalStandin
from windows_hpc.helpers import PASSWORD, USER, PortalCli

pytestmark = pytest.mark.portal


def configure_args(portal: PortalStandin, share: Path) -> list[str]:
    return [
        "driver",
        "configure",
        "windows-hpc",
        f"portal_url={portal.url}",
        f"shares={share}=//wpia-hn/hipercow:V",
        "detect_shares=false",
    ]


def test_configure_with_an_empty_keyring_warns_with_the_command_to_run(
    hpc: PortalCli, portal: PortalStandin, share: Path
) -> None:
    done = hpc(*configure_args(portal, share))
    assert done.code == 0  # the options are saved all the same
    assert "Configured driver 'windows-hpc'" in done.stdout
    assert done.stderr.strip() == (
        "! no portal credentials are stored on this machine. "
        "Run 'hipercow windows-hpc authenticate set' to store your user name and password."
    )
    hpc("windows-hpc", "authenticate", "set", "--username", USER, stdin=f"{PASSWORD}\n")
    again = hpc(*configure_args(portal, share))
    assert again.stderr == ""
