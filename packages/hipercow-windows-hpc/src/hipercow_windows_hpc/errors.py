"""The errors this driver raises, all `DriverError`s so the CLI shows them in two lines.

They are split by what the user does next: fix the credentials, ask for
access, wait for the portal, or read what the portal said.
"""

from __future__ import annotations

from hipercow_core.errors import DriverError, SchedulerUnavailableError


class CredentialsError(DriverError):
    """No usable credentials: none stored, a malformed user name, or no keyring."""


class AuthenticationError(DriverError):
    """The portal did not accept the stored user name and password."""


class NoAccessError(AuthenticationError):
    """The user can log in to the portal but has no rights on the HPC cluster."""


class PortalUnavailableError(SchedulerUnavailableError):
    """The portal did not answer properly, even after retrying (timeouts, 5xx, garbage)."""


class PortalRefusedError(DriverError):
    """The portal answered, and said no (a refused submission, an HTTP 4xx)."""


class ShareError(DriverError):
    """The project is not on a share the nodes can reach, or a share cannot be mapped."""
