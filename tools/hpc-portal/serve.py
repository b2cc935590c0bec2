"""Run the stand-in HPC portal by hand.

    python tools/hpc-portal/serve.py --config FILE --port 8642

prints the portal's base URL (e.g. ``http://127.0.0.1:8642/hpc/``) on the first
line of stdout, then serves until interrupted (Ctrl-C or SIGTERM), killing any
job processes it started on the way out. ``--port 0`` picks a free port.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hpc_portal import ConfigError, PortalConfig, PortalStandin, UserConfig


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Stand-in for the HPC Pack web portal.")
    parser.add_argument("--config", type=Path, help="JSON configuration file (see README.md)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8642, help="port (default 8642; 0: any free)")
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME:PASSWORD",
        help="add a user with HPC access (repeatable; adds to the config file's users)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start the stand-in and serve until a signal arrives."""
    args = _parse_args(argv)
    try:
        config = PortalConfig.from_json_file(args.config) if args.config else PortalConfig()
        for spec in args.user:
            name, sep, password = spec.partition(":")
            if not sep:
                raise ConfigError(f"--user takes NAME:PASSWORD, got {spec!r}")
            config.users[name] = UserConfig(password=password)
        config.validate()
    except ConfigError as exc:
        print(f"serve.py: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    standin = PortalStandin(config, host=args.host, port=args.port, verbose=args.verbose)
    standin.start()
    print(standin.url, flush=True)
    print(f"control API: {standin.control_url}", file=sys.stderr, flush=True)
    standin.serve_until(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
