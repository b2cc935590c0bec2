"""The windows-hpc tests' fixtures: the stand-in portal, the share, the keyring, the CLI.

They live in `windows_hpc.fixtures`, shared with the driver contract suite;
importing them here makes them this directory's fixtures.
"""

from __future__ import annotations

from windows_hpc.fixtures import (
    configure,
    hpc,
    keyring_env,
    logged_in,
    portal,
    portal_config,
    portal_extra,
    share,
)

__all__ = [
    "configure",
    "hpc",
    "keyring_env",
    "logged_in",
    "portal",
    "portal_config",
    "portal_extra",
    "share",
]
