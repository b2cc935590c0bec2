"""A protocol-exact stand-in for the HPC Pack web portal, for testing the windows-hpc driver.

Start one with ``with PortalStandin(config) as portal: ...`` (see the README).
"""

from .config import ConfigError, PortalConfig, Timings, UserConfig
from .faults import FAULT_KINDS
from .protocol import b64decode_text, b64encode_text
from .server import PortalStandin

__all__ = [
    "FAULT_KINDS",
    "ConfigError",
    "PortalConfig",
    "PortalStandin",
    "Timings",
    "UserConfig",
    "b64decode_text",
    "b64encode_text",
]
