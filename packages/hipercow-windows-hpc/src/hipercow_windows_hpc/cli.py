"""`hipercow windows-hpc ...`: credentials, a readiness check, and the shares jobs will use.

Added to the `hipercow` command through the `hipercow.cli` entry point. This
module is imported when its commands run and by `hipercow --help`, so it
imports only typer and the CLI's plugin helpers (`hipercow_cli.plugin`) at
the top; the driver's modules load when a command runs. Commands render; the decisions live in `credentials`, `check` and
`shares`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from hipercow_cli import plugin as cli
from hipercow_cli.plugin import Json

if TYPE_CHECKING:
    from hipercow_core.root import Root
    from hipercow_windows_hpc.options import WindowsHpcOptions

app = typer.Typer(
    help="The windows-hpc driver: portal credentials, a readiness check, shares.",
    no_args_is_help=True,
)
authenticate_app = typer.Typer(
    help="Your portal user name and password, kept only in the system keyring.",
    no_args_is_help=True,
)
app.add_typer(authenticate_app, name="authenticate")


def _context(*, need_root: bool = False) -> tuple[Root | None, WindowsHpcOptions]:
    """The project's root (if any) and the driver's options on this machine (else defaults)."""
    from hipercow_core.drivers.registry import load_driver_class, parse_options
    from hipercow_core.errors import RootNotFoundError
    from hipercow_core.root import Root
    from hipercow_windows_hpc import DRIVER_NAME
    from hipercow_windows_hpc.options import WindowsHpcOptions

    try:
        root = Root.find()
    except RootNotFoundError:
        if need_root:
            raise
        return None, WindowsHpcOptions()
    entry = next((e for e in root.machine_config().drivers if e.name == DRIVER_NAME), None)
    if entry is None:
        return root, WindowsHpcOptions()
    options = parse_options(load_driver_class(DRIVER_NAME), entry.options)
    assert isinstance(options, WindowsHpcOptions)
    return root, options


def _read_password() -> str:
    """The password: prompted without echo at a terminal, else one line of stdin."""
    from hipercow_core.errors import InvalidInputError

    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("Password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise InvalidInputError("no password given", "Type your DIDE password when asked.")
    return password


def _read_username(given: str | None) -> str:
    from hipercow_core.errors import InvalidInputError

    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise InvalidInputError(
            "no user name given, and there is no terminal to ask for one",
            "Pass --username NAME and the password on stdin.",
        )
    import getpass

    from hipercow_windows_hpc.credentials import stored_username

    default = stored_username() or getpass.getuser()
    return str(typer.prompt("DIDE user name", default=default))


@authenticate_app.command("set")
def authenticate_set(
    username: Annotated[
        str | None,
        typer.Option(
            "--username",
            "-u",
            help="DIDE user name ('DIDE\\' is removed). The password is then read from "
            "stdin when stdin is not a terminal.",
        ),
    ] = None,
) -> None:
    """Store your user name and password, after checking them with the portal."""
    from hipercow_windows_hpc.credentials import Credentials, clean_username, store_credentials
    from hipercow_windows_hpc.driver import make_client

    _, options = _context()
    name = clean_username(_read_username(username))
    credentials = Credentials(name, _read_password())
    client = make_client(options, lambda: credentials, share_session=False)
    with cli.spinner(f"Checking the password for '{name}' with the portal"):
        client.login()
    client.logout()
    store_credentials(credentials)
    cli.success(f"Stored the credentials for '{name}' in the system keyring")


@authenticate_app.command("check")
def authenticate_check() -> None:
    """Log in to the portal with the stored credentials."""
    from hipercow_windows_hpc.credentials import load_credentials
    from hipercow_windows_hpc.driver import make_client

    _, options = _context()
    credentials = load_credentials()
    client = make_client(options, load_credentials, share_session=False)
    with cli.spinner(f"Logging in to {options.portal_url}"):
        client.login()
    client.logout()
    cli.success(f"Logged in to {options.portal_url} as '{credentials.username}'")


@authenticate_app.command("clear")
def authenticate_clear() -> None:
    """Remove the stored user name and password from the keyring."""
    from hipercow_windows_hpc.credentials import clear_credentials

    if clear_credentials():
        cli.success("Removed the portal credentials from the system keyring")
    else:
        cli.out("No portal credentials were stored")


@app.command("check")
def check(as_json: Json = False) -> None:
    """Check credentials, the portal, the project's share and versions; exits 1 on a problem."""
    from hipercow_windows_hpc.check import run_checks

    root, options = _context()
    with cli.spinner("Checking"):
        results = run_checks(root, options)
    if as_json:
        cli.emit_json([r._asdict() for r in results])
    else:
        for result in results:
            line = f"{result.what}: {result.detail}"
            if result.ok:
                cli.success(line)
            else:
                cli.failed(line)
                if result.hint:
                    cli.out(f"  {result.hint}")
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command("shares")
def shares(as_json: Json = False) -> None:
    """The shares jobs will map, their drive letters, and where the project is on them."""
    from hipercow_core.errors import DriverError
    from hipercow_windows_hpc.driver import WindowsHpcDriver
    from hipercow_windows_hpc.paths import linux_path

    root, options = _context(need_root=True)
    assert root is not None
    driver = WindowsHpcDriver(root, options)
    rules = options.linux_rules()
    rows = [
        {
            "drive": s.drive,
            "remote": s.remote.windows(),
            "local": s.local,
            "linux": linux_path(s.remote, rules),
            "source": "detected" if s.detected else "configured",
        }
        for s in driver.shares
    ]
    try:
        where = driver.project_location()
        project: dict[str, str | None] = {
            "unc": where.unc().windows(),
            "windows": where.windows(),
            "linux": linux_path(where.unc(), rules),
        }
        problem = None
    except DriverError as e:
        project, problem = {}, e
    if as_json:
        cli.emit_json({"shares": rows, "project": project or None})
        return
    if rows:
        table = cli.table("drive", "share", "local", "linux nodes", "source")
        for row in rows:
            table.add_row(
                *(str(row[k] or "-") for k in ("drive", "remote", "local", "linux", "source"))
            )
        cli.print_table(table)
    else:
        cli.out("No shares configured or mounted")
    if problem is not None:
        cli.failed(problem.message)
        if problem.hint:
            cli.out(f"  {problem.hint}")
        raise typer.Exit(1)
    cli.out(f"project: {project['unc']} = {project['windows']}; linux: {project['linux'] or '-'}")
