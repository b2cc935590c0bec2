"""Errors that hipercow_core raises.

The library never prints or exits: every problem a user can cause or fix is a
`HipercowError` carrying a one-line message and a hint saying what to do next,
so that any front end (the CLI, a notebook) can show it in two lines.
"""

from __future__ import annotations


class HipercowError(Exception):
    """Base of every error a user is expected to read."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class RootNotFoundError(HipercowError):
    """No hipercow root above the working directory."""


class InvalidTaskIdError(HipercowError):
    """An id that is not 32 hex digits, so could name a path outside the root."""


class TaskNotFoundError(HipercowError):
    """A well-formed id with no task behind it."""


class InvalidResourcesError(HipercowError):
    """A resource request that cannot be parsed or exceeds what the cluster has."""


class DriverError(HipercowError):
    """A driver is unknown, unconfigured, or its scheduler refused a request."""


class SchedulerUnavailableError(DriverError):
    """The scheduler cannot be asked just now (down, unreachable, timing out)."""


class TaskStateError(HipercowError):
    """An operation that the task's current status does not allow."""


class InvalidInputError(HipercowError):
    """Any other input that hipercow cannot accept as given."""


class SecretError(HipercowError):
    """A secret that is not set, or a key pair that is missing, exposed or not the right one.

    Its message never holds a secret's value: only names, users and paths.
    """


class HipercowWarning(UserWarning):
    """Something a user should see that does not stop the operation.

    The library warns through Python's `warnings` (it never prints); the CLI
    shows each as one line, a notebook as a warning.
    """


class SchedulerUnavailableWarning(HipercowWarning):
    """A status came from the task files because the scheduler could not be asked."""


class EnvironmentNotBuiltWarning(HipercowWarning):
    """A task was made to run in an environment with no build where it will run."""


class StorageError(HipercowError):
    """The disk refused a write: full, over quota, read-only, or not ours to write."""


class CorruptFileError(HipercowError):
    """A file hipercow wrote holds something it cannot read (truncated, edited, garbage)."""

    def __init__(self, path: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.path = path


class UnsafePathError(HipercowError):
    """A symbolic link inside the root, which hipercow never follows to write or delete."""
