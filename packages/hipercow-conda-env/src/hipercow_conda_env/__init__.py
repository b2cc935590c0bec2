"""hipercow_conda_env: the `conda` environment engine, for tools from conda channels (bioconda, conda-forge)."""

from __future__ import annotations

__version__ = "0.1.0"
