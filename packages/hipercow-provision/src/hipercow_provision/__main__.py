"""`python -m hipercow_provision`: the standalone command, for machines without its script on PATH."""

from __future__ import annotations

from hipercow_provision.cli import main

main()
