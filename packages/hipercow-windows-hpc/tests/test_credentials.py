"""Credentials live in the keyring only, and user names are cleaned before use."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import keyring.backend
import pytest
from keyring.errors import PasswordDeleteError

from hipercow_windows_hpc.credentials import (
    SERVICE,
    Credentials,
    clean_username,
    clear_credentials,
    load_credentials,
    store_credentials,
    stored_username,
)
from hipercow_windows_hpc.errors import CredentialsError


class MemoryKeyring(keyring.backend.KeyringBackend):
    """Secrets in a dict, gone with the process."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.secrets.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Select an in-memory keyring for the test, and restore the previous one after."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.mark.parametrize(("text", "name"), [("bob", "bob"), ("DIDE\\bob", "bob"), (" bob ", "bob")])
def test_user_names_lose_their_domain(text: str, name: str) -> None:
    assert clean_username(text) == name


@pytest.mark.parametrize(
    ("text", "message"), [("", "empty"), ("DIDE\\", "empty"), ("b ob", "space"), ("bo#b", "'#'")]
)
def test_bad_user_names_are_refused(text: str, message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        clean_username(text)


def test_the_password_never_shows_in_a_repr() -> None:
    credentials = Credentials("bob", "s3cret!")
    assert "s3cret!" not in repr(credentials)
    assert "s3cret!" not in str(credentials)
    assert "s3cret!" not in f"{[credentials]}"


def test_store_load_and_clear(memory_keyring: MemoryKeyring) -> None:
    with pytest.raises(CredentialsError, match="no portal credentials") as caught:
        load_credentials()
    assert caught.value.hint is not None and "authenticate set" in caught.value.hint
    store_credentials(Credentials("bob", "pw1"))
    assert load_credentials() == Credentials("bob", "pw1")
    store_credentials(Credentials("alice", "pw2"))
    assert stored_username() == "alice"
    assert keyring.get_password(SERVICE, "bob") is None
    assert clear_credentials() is True
    assert stored_username() is None
    assert keyring.get_password(SERVICE, "alice") is None
    assert clear_credentials() is False
