"""`python -m hipercow_provision`: the standalone command, for machines without its script on PATH."""

from __future__ import annotations

import sys

from hipercow_provision.cli import main

sys.exit(main())
