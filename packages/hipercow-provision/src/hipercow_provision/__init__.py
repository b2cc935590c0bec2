"""hipercow_provision: building environments with uv or pip, as jobs, with a history of every attempt.

Installed, it registers the `uv` and `pip` engines under the
`hipercow.environments` entry point group. Modules: `inputs` (what an attempt
installs, and its hash), `history` (the attempts on disk, reconciling,
comparing, checking), `engines` (uv and pip), `build` (carrying out one
attempt), `provision` (an environment of a hipercow root, provisioned as a
job through the configured driver), `job` (what that job runs on the node),
`render` (text for people) and `cli` (the standalone `hipercow-provision`).
"""

from __future__ import annotations

__version__ = "0.1.0"
