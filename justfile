# hipercow: every routine task. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Install the workspace (all packages and dev tools) into .venv, byte-compiled so commands start fast
setup:
    uv sync --all-packages --locked --compile-bytecode --quiet
    .venv/bin/python -m compileall -q packages/*/src > /dev/null

# Set up, then run a task end to end through the local driver and show its log
demo: setup
    #!/usr/bin/env bash
    set -euo pipefail
    rm -rf .demo && mkdir -p .demo && cd .demo
    hipercow() { ../.venv/bin/hipercow "$@"; }
    hipercow init
    id=$(hipercow task create -- sh -c 'echo "Hello from hipercow on $(hostname)"; sleep 1; echo "The answer is $((6 * 7))"')
    echo "Created task $id"
    hipercow task wait "$id"
    echo "--- task log ---"
    hipercow task log "$id"
    echo "--- task info ---"
    hipercow task info "$id"

# Run the whole test suite (starts the services it needs, e.g. a real Slurm cluster)
test *args: setup
    uv run pytest -n 3 --dist loadgroup {{args}}

# ruff (lint and format) and mypy --strict
lint: setup
    uv run ruff check .
    uv run ruff format --check .
    uv run mypy
    for tests in packages/*/tests; do uv run mypy "$tests"; done

# Format the code
fmt: setup
    uv run ruff format .
    uv run ruff check --fix .

# Build the documentation site into site/ (strict: a warning, broken link or missing reference fails)
docs: setup
    NO_MKDOCS_2_WARNING=1 uv run mkdocs build --strict

# Serve the documentation site while you edit it, at http://127.0.0.1:8000
docs-serve: setup
    NO_MKDOCS_2_WARNING=1 uv run mkdocs serve

# Benchmarks against the earlier tool, side by side (see tools/bench/README.md)
bench *args: setup
    uv run python tools/bench/bench.py {{args}}

# Start the real Slurm cluster on this machine (tools/slurm-cluster)
cluster-up: setup
    uv run python tools/slurm-cluster/cluster.py start

# Stop the Slurm cluster, leaving no process behind
cluster-down: setup
    uv run python tools/slurm-cluster/cluster.py stop
