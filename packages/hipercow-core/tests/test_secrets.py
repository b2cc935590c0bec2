"""Secrets in core: masking a stream, key files and their permissions, sealing and opening."""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from hipercow_core.errors import SecretError
from hipercow_core.redact import Redactor, copy_redacted
from hipercow_core.root import Root
from hipercow_core.secret_keys import (
    default_key_path,
    exposure,
    keygen,
    load_private_key,
    public_key_path,
    seal,
    unseal,
)

VALUE = "hunter2-Ä-token"


def masked(values: list[str], chunks: list[bytes]) -> bytes:
    redactor = Redactor(v.encode() for v in values)
    return b"".join(redactor.feed(c) for c in chunks) + redactor.flush()


def test_a_value_is_masked_wherever_the_output_is_split() -> None:
    text = f"token={VALUE}; again {VALUE}!\n".encode()
    for cut in range(len(text) + 1):
        assert masked([VALUE], [text[:cut], text[cut:]]) == b"token=***; again ***!\n", cut


def test_a_value_split_into_single_bytes_is_masked() -> None:
    text = f"<{VALUE}>".encode()
    assert masked([VALUE], [bytes([b]) for b in text]) == b"<***>"


def test_only_what_could_begin_a_value_is_held_back() -> None:
    redactor = Redactor([b"secret"])
    assert redactor.feed(b"progress: sec") == b"progress: "
    assert redactor.feed(b"ond step\n") == b"second step\n"
    assert redactor.feed(b"the end: se") == b"the end: "
    assert redactor.flush() == b"se"


def test_a_value_containing_another_is_masked_whole() -> None:
    assert masked(["abc", "xxabcxx"], [b"1 xxabcxx 2 abc"]) == b"1 *** 2 ***"


def test_copy_redacted_masks_a_pipe(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, f"a {VALUE[:3]}".encode())
    os.write(write_end, f"{VALUE[3:]} b\n".encode())
    os.close(write_end)
    target = tmp_path / "log"
    with target.open("wb") as log:
        copy_redacted(read_end, log.fileno(), [VALUE])
    os.close(read_end)
    assert target.read_bytes() == b"a *** b\n"


def test_the_default_key_is_in_the_home_directory_on_windows_and_posix() -> None:
    windows = default_key_path(PureWindowsPath(r"C:\Users\alice"))
    assert windows == PureWindowsPath(r"C:\Users\alice\.hipercow\secret-key.json")
    assert default_key_path(PurePosixPath("/home/alice")) == PurePosixPath(
        "/home/alice/.hipercow/secret-key.json"
    )


def test_exposure_refuses_keys_others_can_read_or_own_on_posix_only() -> None:
    assert exposure(stat.S_IFREG | 0o600, 1000, 1000, windows=False) is None
    assert "mode 644" in str(exposure(stat.S_IFREG | 0o644, 1000, 1000, windows=False))
    assert "mode 640" in str(exposure(stat.S_IFREG | 0o640, 1000, 1000, windows=False))
    assert "another user (uid 1001" in str(exposure(0o100600, 1001, 1000, windows=False))
    # Windows reports 0o666 for every file: its profile directory's ACL protects the key
    assert exposure(stat.S_IFREG | 0o666, 0, None, windows=True) is None


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))  # Path.home() on Windows
    monkeypatch.setenv("LOGNAME", "alice")
    return home


@pytest.fixture
def root(tmp_path: Path) -> Root:
    (tmp_path / "project").mkdir()
    return Root.init(tmp_path / "project")[0]


def test_keygen_writes_a_private_key_only_its_owner_can_read(home: Path, root: Root) -> None:
    record, made = keygen(root)
    path = home / ".hipercow" / "secret-key.json"
    assert made and record.user == "alice"
    if os.name != "nt":  # Windows guards the profile folder by ACL, not by file modes
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert record.public_key in public_key_path(root, "alice").read_text()
    assert load_private_key(path).private_key not in public_key_path(root, "alice").read_text()
    again, made_again = keygen(root)
    assert not made_again and again.public_key == record.public_key


def test_sealed_values_open_with_the_key_and_hold_no_plain_text(home: Path, root: Root) -> None:
    keygen(root)
    secrets = seal(root, {"TOKEN": VALUE})
    assert secrets.user == "alice" and set(secrets.values) == {"TOKEN"}
    assert VALUE not in secrets.values["TOKEN"]
    assert unseal(secrets) == {"TOKEN": VALUE}


def test_sealing_without_a_key_pair_says_how_to_make_one(home: Path, root: Root) -> None:
    with pytest.raises(SecretError) as error:
        seal(root, {"TOKEN": VALUE})
    assert error.value.message == "there is no key pair for user alice in this root"
    assert error.value.hint == "Run 'hipercow secret keygen' to make one."


def test_another_users_key_does_not_open_and_says_whose_was_needed(
    home: Path, root: Root, monkeypatch: pytest.MonkeyPatch
) -> None:
    keygen(root)
    secrets = seal(root, {"TOKEN": VALUE})
    monkeypatch.setenv("HOME", str(home.parent / "bob"))
    monkeypatch.setenv("USERPROFILE", str(home.parent / "bob"))
    monkeypatch.setenv("LOGNAME", "bob")
    keygen(root)
    with pytest.raises(SecretError) as error:
        unseal(secrets)
    assert "sealed for alice's key" in error.value.message
    assert "is bob's key" in error.value.message
    assert VALUE not in f"{error.value.message} {error.value.hint}"


@pytest.mark.skipif(os.name == "nt", reason="file modes are POSIX; Windows guards files by ACL")
def test_a_key_others_can_read_is_refused(home: Path, root: Root) -> None:
    keygen(root)
    secrets = seal(root, {"TOKEN": VALUE})
    path = home / ".hipercow" / "secret-key.json"
    path.chmod(0o644)
    with pytest.raises(SecretError, match="others can read it \\(mode 644\\)") as error:
        unseal(secrets)
    assert error.value.hint is not None and "chmod 600" in error.value.hint


@pytest.mark.skipif(os.name == "nt" or os.geteuid() != 0, reason="chown needs root on POSIX")
def test_a_key_owned_by_another_user_is_refused(home: Path, root: Root) -> None:
    keygen(root)
    secrets = seal(root, {"TOKEN": VALUE})
    path = home / ".hipercow" / "secret-key.json"
    os.chown(path, 4242, 4242)
    with pytest.raises(SecretError, match="belongs to another user \\(uid 4242"):
        unseal(secrets)


def test_a_missing_private_key_says_how_to_make_one(home: Path, root: Root) -> None:
    keygen(root)
    secrets = seal(root, {"TOKEN": VALUE})
    (home / ".hipercow" / "secret-key.json").unlink()
    with pytest.raises(SecretError, match="there is no private key at ") as error:
        unseal(secrets)
    assert error.value.hint == "Run 'hipercow secret keygen' to make one."


def test_a_key_at_a_named_path_is_recorded_for_the_nodes(
    home: Path, root: Root, tmp_path: Path
) -> None:
    path = tmp_path / "cluster-home" / "key.json"
    record, _ = keygen(root, path)
    assert record.key_path == str(path)
    secrets = seal(root, {"TOKEN": VALUE})
    assert secrets.key_path == str(path)
    assert not (home / ".hipercow").exists()
    assert unseal(secrets) == {"TOKEN": VALUE}
