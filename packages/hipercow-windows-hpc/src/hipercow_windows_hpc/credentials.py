"""The portal user name and password, kept in the system keyring and nowhere else.

The root lives on a shared drive and its files are read by others, so a
password must never be written there, nor into a log. The keyring holds two
entries under one service: the user name (under a key no user name can take,
since names may not contain '#') and the password under the user name.
`Credentials` never shows its password in a repr, so a stray log line or
traceback cannot leak it.
"""

from __future__ import annotations

import contextlib
import re
from typing import NamedTuple

from hipercow_windows_hpc.errors import CredentialsError

SERVICE = "hipercow/windows-hpc"
_USERNAME_KEY = "#username"
_SPACE = re.compile(r"\s")
_HINT = "Run 'hipercow windows-hpc authenticate set' to store your user name and password."


class Credentials(NamedTuple):
    """A user name (without domain) and password for the portal."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=<hidden>)"

    def __str__(self) -> str:
        return self.__repr__()


def clean_username(text: str) -> str:
    """The bare user name: `DOMAIN\\bob` becomes `bob`; empty names, spaces and '#' are refused."""
    name = text.strip().rsplit("\\", 1)[-1]
    if not name:
        raise CredentialsError("the user name is empty", "Give your DIDE user name, e.g. 'bob'.")
    if _SPACE.search(name) or "#" in name:
        raise CredentialsError(
            f"'{name}' is not a user name: it contains a space or '#'",
            "Give your DIDE user name as you log in to Windows, e.g. 'bob' or 'DIDE\\bob'.",
        )
    return name


def _keyring_error(e: Exception) -> CredentialsError:
    return CredentialsError(
        f"the system keyring is not usable: {type(e).__name__}: {e}",
        "hipercow keeps your password only in the system keyring; install or unlock one "
        "(see the keyring package's documentation), then try again.",
    )


def stored_username() -> str | None:
    """The user name in the keyring, or None if there is none."""
    import keyring
    import keyring.errors

    try:
        return keyring.get_password(SERVICE, _USERNAME_KEY)
    except keyring.errors.KeyringError as e:
        raise _keyring_error(e) from None


def load_credentials() -> Credentials:
    """The stored credentials; CredentialsError (with what to do) if there are none."""
    import keyring
    import keyring.errors

    username = stored_username()
    if not username:
        raise CredentialsError("no portal credentials are stored on this machine", _HINT)
    try:
        password = keyring.get_password(SERVICE, username)
    except keyring.errors.KeyringError as e:
        raise _keyring_error(e) from None
    if password is None:
        raise CredentialsError(f"no password is stored for '{username}'", _HINT)
    return Credentials(username, password)


def store_credentials(credentials: Credentials) -> None:
    """Save credentials (already checked against the portal), replacing any earlier ones."""
    import keyring
    import keyring.errors

    earlier = stored_username()
    try:
        keyring.set_password(SERVICE, credentials.username, credentials.password)
        keyring.set_password(SERVICE, _USERNAME_KEY, credentials.username)
        if earlier and earlier != credentials.username:
            _delete(earlier)
    except keyring.errors.KeyringError as e:
        raise _keyring_error(e) from None


def clear_credentials() -> bool:
    """Forget the stored credentials; True if there were any."""
    import keyring.errors

    username = stored_username()
    if username is None:
        return False
    try:
        _delete(username)
        _delete(_USERNAME_KEY)
    except keyring.errors.KeyringError as e:
        raise _keyring_error(e) from None
    return True


def _delete(key: str) -> None:
    import keyring
    import keyring.errors

    with contextlib.suppress(keyring.errors.PasswordDeleteError):
        keyring.delete_password(SERVICE, key)
