"""hipercow_windows_hpc: the `windows-hpc` driver for the HPC Pack cluster behind its web portal.

The cluster is reached only through a PHP web portal, so this package is a
portal client (`client`), credentials kept in the system keyring
(`credentials`), the mapping of the project's network shares onto the nodes
(`mounts`, `paths`, `shares`), batch scripts rendered from template files
(`batch`), the driver itself (`driver`) and the `hipercow windows-hpc`
commands (`cli`). Modules import lazily so `hipercow` stays quick to start.
"""

from __future__ import annotations

__version__ = "0.1.0"

DRIVER_NAME = "windows-hpc"
