"""`hipercow secret ...`: secret values in this machine's keyring, and the key pair that seals them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hipercow_cli import output
from hipercow_cli.options import Json
from hipercow_core.errors import InvalidInputError

app = typer.Typer(
    help="Secret environment variables: kept in this machine's keyring, encrypted for the nodes.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="The secret's name (the task's variable).")]


def _read_value(name: str) -> str:
    """The value from a hidden prompt at a terminal, else the whole of stdin (one trailing newline dropped)."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"Value of {name}: ")
    value = sys.stdin.read()
    return value[:-1] if value.endswith("\n") else value


@app.command("set")
def set_(name: Name) -> None:
    """Store a secret's value in this machine's keyring (typed hidden, or read from stdin)."""
    from hipercow_core.secret_store import check_name, set_secret

    check_name(name)
    set_secret(name, _read_value(name))
    output.err(f"Secret {name} stored in this machine's keyring")


@app.command("list")
def list_(as_json: Json = False) -> None:
    """The names of the secrets stored on this machine (never their values)."""
    from hipercow_core.secret_store import names

    stored = names()
    if as_json:
        output.emit_json({"secrets": stored})
    elif not stored:
        output.err("No secrets stored: 'hipercow secret set NAME' stores one")
    for name in stored if not as_json else []:
        output.out(name)


@app.command("delete")
def delete(name: Name) -> None:
    """Remove a secret from this machine's keyring."""
    from hipercow_core.secret_store import delete_secret

    delete_secret(name)
    output.err(f"Secret {name} deleted")


@app.command("keygen")
def keygen(
    key: Annotated[
        Path | None,
        typer.Option(
            help="Keep the private key here (a path the cluster's nodes see the same way)"
            " instead of ~/.hipercow/secret-key.json.",
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Make a new pair even if one exists (old tasks won't open)."
        ),
    ] = False,
    as_json: Json = False,
) -> None:
    """Make your key pair: the private key only you can read, the public key in this root."""
    from hipercow_core.root import Root
    from hipercow_core.secret_keys import default_key_path, keygen

    if key is not None and not key.is_absolute():
        raise InvalidInputError(
            f"--key '{key}' is not an absolute path", "Give the full path the nodes will read."
        )
    record, made = keygen(Root.find(), key, replace=replace)
    where = record.key_path or str(default_key_path(Path.home()))
    if as_json:
        output.emit_json({"user": record.user, "key_path": where, "new": made})
    elif made:
        output.success(f"Made a key pair for {record.user}: private key {where}")
    else:
        output.success(f"Using the existing key pair of {record.user} at {where}")
