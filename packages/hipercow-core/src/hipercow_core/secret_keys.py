"""Per-user key pairs that seal a task's secrets on this machine and open them on a node.

Each user has one X25519 key pair (PyNaCl sealed boxes: anyone holding the
public key can seal, only the private key opens). The private key lives
where the cluster's nodes can read it and other users cannot: by default
`~/.hipercow/secret-key.json` in the home directory of the user running the
task, mode 600, or a path given to `hipercow secret keygen --key`. The public
key is kept in the root (`keys/USER.json`), so creating a task needs nothing
but the root. PyNaCl is imported only inside the functions that seal or
open, so a runner whose task has no secrets never loads it.
"""

from __future__ import annotations

import base64
import getpass
import os
import stat
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import TypeVar

import msgspec

from hipercow_core.errors import SecretError
from hipercow_core.fsutil import atomic_write, read_bytes
from hipercow_core.processes import OPEN_FLAGS
from hipercow_core.root import Root
from hipercow_core.schema import PrivateKeyFile, PublicKeyRecord, TaskSecrets

P = TypeVar("P", bound=PurePath)

KEY_FILENAME = "secret-key.json"
KEYGEN_HINT = "Run 'hipercow secret keygen' to make one."


def current_user() -> str:
    """The user name tasks are sealed for (LOGNAME/USER/USERNAME, else the account's)."""
    return getpass.getuser()


def default_key_path(home: P) -> P:
    """Where a user's private key is unless they named a path: under their home directory.

    On Windows the home is the user's profile directory, which only that
    user (and administrators) can read; on POSIX the file itself is mode 600.
    """
    return home / ".hipercow" / KEY_FILENAME


def public_key_path(root: Root, user: str) -> Path:
    return root.path / "keys" / f"{user}.json"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def read_public_key(root: Root, user: str) -> PublicKeyRecord | None:
    raw = read_bytes(public_key_path(root, user))
    return None if raw is None else msgspec.json.decode(raw, type=PublicKeyRecord)


def exposure(mode: int, owner: int, me: int | None, *, windows: bool) -> str | None:
    """Why a private key file with this mode and owner may not be used, or None when it may.

    On Windows, access is governed by the profile directory's ACL, not the
    mode bits (which Python reports as 0o666 for every file), so only POSIX
    files are judged here.
    """
    if windows:
        return None
    if me is not None and owner != me:
        return f"it belongs to another user (uid {owner}, not {me})"
    if mode & 0o077:
        return f"others can read it (mode {stat.S_IMODE(mode):03o})"
    return None


def _my_uid() -> int | None:
    getuid = getattr(os, "getuid", None)
    return None if getuid is None else int(getuid())


def load_private_key(path: Path) -> PrivateKeyFile:
    """Read a private key file, refusing one that is missing or that others could read."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SecretError(f"there is no private key at {path}", KEYGEN_HINT) from None
    problem = exposure(info.st_mode, info.st_uid, _my_uid(), windows=os.name == "nt")
    if problem is not None:
        fix = "Run 'chmod 600' on it" if "others" in problem else "Use your own key"
        raise SecretError(
            f"refusing the private key at {path}: {problem}",
            f"{fix}, or make a new pair with 'hipercow secret keygen --replace'.",
        )
    raw = read_bytes(path)
    try:
        return msgspec.json.decode(raw or b"", type=PrivateKeyFile)
    except msgspec.DecodeError:
        raise SecretError(
            f"{path} is not a hipercow private key",
            "Make a new pair with 'hipercow secret keygen'.",
        ) from None


def _write_private(path: Path, key: PrivateKeyFile) -> None:
    """Write the key file readable by its owner only, never briefly readable by others."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | OPEN_FLAGS, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(msgspec.json.encode(key) + b"\n")
    os.replace(temp, path)


def keygen(
    root: Root, key_path: Path | None = None, *, replace: bool = False
) -> tuple[PublicKeyRecord, bool]:
    """Make this user's key pair (or reuse the one at the path) and record its public key.

    Returns the record and whether a new pair was made. An existing key is
    reused unless `replace`, so a second root of the same user needs no new
    key and tasks sealed earlier still open.
    """
    from nacl.public import PrivateKey

    user = current_user()
    path = key_path or default_key_path(Path.home())
    made = replace or not path.exists()
    if made:
        private = PrivateKey.generate()
        key = PrivateKeyFile(
            user=user,
            public_key=_b64(bytes(private.public_key)),
            private_key=_b64(bytes(private)),
            created=datetime.now(UTC),
        )
        _write_private(path, key)
    else:
        key = load_private_key(path)
        if key.user != user:
            raise SecretError(
                f"the private key at {path} is {key.user}'s, not {user}'s",
                "Name another path with --key, or run as its owner.",
            )
    record = PublicKeyRecord(
        user=user,
        public_key=key.public_key,
        created=key.created,
        key_path=None if key_path is None else str(key_path),
    )
    target = public_key_path(root, user)
    target.parent.mkdir(exist_ok=True)
    atomic_write(target, msgspec.json.format(msgspec.json.encode(record)) + b"\n")
    return record, made


def seal(root: Root, values: Mapping[str, str]) -> TaskSecrets:
    """Encrypt each value to this user's public key in the root; only ciphertext comes back."""
    from nacl.public import PublicKey, SealedBox

    user = current_user()
    record = read_public_key(root, user)
    if record is None:
        raise SecretError(f"there is no key pair for user {user} in this root", KEYGEN_HINT)
    box = SealedBox(PublicKey(base64.b64decode(record.public_key)))
    return TaskSecrets(
        user=user,
        public_key=record.public_key,
        values={name: _b64(box.encrypt(value.encode())) for name, value in values.items()},
        key_path=record.key_path,
    )


def unseal(secrets: TaskSecrets) -> dict[str, str]:
    """Open a task's secrets with the private key of whoever runs it (on the node).

    Fails, naming whose key the task was made for, when this key is not it.
    """
    from nacl.exceptions import CryptoError
    from nacl.public import PrivateKey, SealedBox

    path = Path(secrets.key_path) if secrets.key_path else default_key_path(Path.home())
    key = load_private_key(path)
    if key.public_key != secrets.public_key:
        whose = "a different key" if key.user == secrets.user else f"{key.user}'s key"
        raise SecretError(
            f"the task's secrets were sealed for {secrets.user}'s key, "
            f"but the key at {path} is {whose}",
            f"Run the task as {secrets.user}, or recreate it with your own key.",
        )
    box = SealedBox(PrivateKey(base64.b64decode(key.private_key)))
    try:
        return {
            name: box.decrypt(base64.b64decode(sealed)).decode()
            for name, sealed in secrets.values.items()
        }
    except (CryptoError, ValueError):
        raise SecretError(
            f"the task's secrets do not open with the key at {path}",
            f"Recreate the task: its secrets are damaged or were sealed for {secrets.user}.",
        ) from None
