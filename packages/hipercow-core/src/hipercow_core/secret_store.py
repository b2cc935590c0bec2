"""Secret values on this machine: in the system keyring, never in a file hipercow writes.

Keyrings cannot list what they hold, so the names (never the values) are
kept in one more keyring entry. `resolve` gathers the values a task asks for,
from the keyring (`--secret NAME`) or this machine's environment
(`--secret NAME=ENVVAR`), just before they are sealed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence

import msgspec

from hipercow_core.errors import InvalidInputError, SecretError

SERVICE = "hipercow-secrets"
_NAMES_ENTRY = "\x00names"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SecretRequest(msgspec.Struct, frozen=True):
    """One `--secret`: the task's variable `name`, read from `envvar` here when given."""

    name: str
    envvar: str | None = None


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"'{name}' is not a valid secret name",
            "Use letters, digits and underscores, not starting with a digit.",
        )


def parse_request(text: str) -> SecretRequest:
    """`NAME` or `NAME=ENVVAR`, both names checked."""
    name, sep, envvar = text.partition("=")
    check_name(name)
    if sep:
        check_name(envvar)
    return SecretRequest(name, envvar if sep else None)


def names() -> list[str]:
    import keyring

    raw = keyring.get_password(SERVICE, _NAMES_ENTRY)
    return sorted(json.loads(raw)) if raw else []


def _save_names(new: Sequence[str]) -> None:
    import keyring

    keyring.set_password(SERVICE, _NAMES_ENTRY, json.dumps(sorted(set(new))))


def set_secret(name: str, value: str) -> None:
    import keyring

    check_name(name)
    if not value:
        raise InvalidInputError(f"the value of secret '{name}' is empty", "Give a value.")
    keyring.set_password(SERVICE, name, value)
    _save_names([*names(), name])


def delete_secret(name: str) -> None:
    import keyring
    from keyring.errors import PasswordDeleteError

    check_name(name)
    try:
        keyring.delete_password(SERVICE, name)
    except PasswordDeleteError:
        raise _not_set(name) from None
    _save_names([n for n in names() if n != name])


def _not_set(name: str) -> SecretError:
    return SecretError(
        f"secret '{name}' is not set on this machine",
        f"Set it with 'hipercow secret set {name}' ('hipercow secret list' shows those set).",
    )


def resolve(
    requests: Sequence[SecretRequest], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The value of every requested secret, by the task variable it becomes."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for request in requests:
        if request.envvar is not None:
            value = env.get(request.envvar)
            if not value:
                raise SecretError(
                    f"environment variable {request.envvar} (for secret {request.name}) is not set",
                    f"Set {request.envvar} here, or store it with 'hipercow secret set "
                    f"{request.name}' and use --secret {request.name}.",
                )
        else:
            import keyring

            value = keyring.get_password(SERVICE, request.name)
            if value is None:
                raise _not_set(request.name)
        values[request.name] = value
    return values
