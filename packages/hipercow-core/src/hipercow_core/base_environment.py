"""What a task's environment starts from: the machine's base variables, never the user's shell.

A task's environment is, on every driver and whenever it is submitted:

1. the base variables of the machine that starts it: the names below (the
   search path, home, user, locale, time zone, temporary directories, the
   network's proxies and certificate bundles, and the Windows system
   variables programs need), plus every `HIPERCOW_*` variable (hipercow's
   own settings), the package tools' settings (`PIP_*`, `UV_*`), the
   `XDG_*` directories, and the scheduler's own (`SLURM_*`, `CCP_*`), which
   the job gets on its node;
2. its environment's activation (PATH, VIRTUAL_ENV), when it names one;
3. the variables given with `--env` (a Python task's `envvars`);
4. `HIPERCOW_TASK_ID` and `HIPERCOW_ROOT`.

Anything else in the shell that created or submitted the task is not part
of it: pass it with `--env`. The local driver starts its queue daemon, and
the daemon its runners, with only the base variables, so a daemon started
by an earlier task cannot leak that task's shell into later ones.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Base variable names, compared without case (Windows keeps them as typed).
BASE_VARIABLES = frozenset(
    name.upper()
    for name in (
        # POSIX
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TERM",
        "LD_LIBRARY_PATH",
        # the network: proxies and certificate bundles (installing packages needs them)
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "FTP_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        # Windows
        "SystemRoot",
        "SystemDrive",
        "windir",
        "ComSpec",
        "PATHEXT",
        "TEMP",
        "TMP",
        "USERNAME",
        "USERDOMAIN",
        "USERPROFILE",
        "HOMEDRIVE",
        "HOMEPATH",
        "APPDATA",
        "LOCALAPPDATA",
        "ProgramData",
        "ProgramFiles",
        "ProgramFiles(x86)",
        "ProgramW6432",
        "CommonProgramFiles",
        "CommonProgramFiles(x86)",
        "CommonProgramW6432",
        "ALLUSERSPROFILE",
        "PUBLIC",
        "COMPUTERNAME",
        "NUMBER_OF_PROCESSORS",
        "PROCESSOR_ARCHITECTURE",
        "OS",
    )
)

#: Prefixes of variables that are part of the base too: hipercow's own settings,
#: the locale categories, the package tools' settings, the XDG directories, and
#: what schedulers set for a job.
BASE_PREFIXES = ("HIPERCOW_", "LC_", "PIP_", "UV_", "XDG_", "SLURM_", "CCP_")


def is_base_variable(name: str) -> bool:
    upper = name.upper()
    return upper in BASE_VARIABLES or upper.startswith(BASE_PREFIXES)


def base_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The base variables of `env`, the start of every task's environment."""
    return {name: value for name, value in env.items() if is_base_variable(name)}
