"""The registry of benchmark cases: what is compared, on which roots, against which goal.

Adding a case: write a setup for each tool (a function from `Tool` to
`Prepared`: make or reuse a root, return the working directory and the
arguments to time), then add a `Case(...)` to `CASES`. Goals are ratios of
medians, ours / theirs, taken from the issue that asks for the case.
"""

from __future__ import annotations

from pathlib import Path

from tools.bench import slurm_scale
from tools.bench.conda import conda_floor, conda_ours, rattler_floor_tool
from tools.bench.harness import Case, Prepared, Sample, Tool
from tools.bench.prep import (
    COMMAND,
    create_with_cli,
    expect_id,
    expect_lines,
    expect_text,
    expect_text_in,
    init_root,
    kept_root,
    new_root,
    ours_add_tasks,
    ours_settle,
    theirs_add_tasks,
    theirs_run_task,
)

LIST_TASKS = 10_000

# --------------------------------------------------------------------------- task status
# Both tasks are finished (`success`): the one state both tools reach the same
# way, and the one whose status needs no scheduler, so only reading is timed.


def status_ours(tool: Tool) -> Prepared:
    project = new_root(tool, "task-status")
    task_id = create_with_cli(tool, project)
    ours_settle(project)
    return Prepared(project, ("task", "status", task_id), check=expect_text("success"))


def status_theirs(tool: Tool) -> Prepared:
    project = new_root(tool, "task-status")
    task_id = create_with_cli(tool, project)
    theirs_run_task(tool, project, task_id)
    return Prepared(project, ("task", "status", task_id), check=expect_text("success"))


# --------------------------------------------------------------------------- task create
# One task, submitted by each tool's configured driver as its `create` does:
# ours queues it for the local driver's daemon, theirs calls the example
# driver. Ours' background run is waited for after each timed run (untimed).


def create_ours(tool: Tool) -> Prepared:
    project = new_root(tool, "task-create")
    ours_settle(project)

    def settle(_: Sample) -> None:
        ours_settle(project)

    return Prepared(project, ("task", "create", "--", *COMMAND), after=settle, check=expect_id)


def create_theirs(tool: Tool) -> Prepared:
    project = new_root(tool, "task-create")
    return Prepared(project, ("task", "create", "--", *COMMAND), check=expect_id)


# --------------------------------------------------------------------------- task list
# 10,000 tasks created through each tool's Python API (the old CLI would take
# hours), left `created`: never submitted, never run.


def list_ours(tool: Tool) -> Prepared:
    def build(project: Path) -> None:
        init_root(tool, project)
        ours_add_tasks(project, LIST_TASKS)

    project = kept_root(tool, f"task-list-{LIST_TASKS}", build)
    return Prepared(project, ("task", "list"), check=expect_lines(LIST_TASKS))


def list_theirs(tool: Tool) -> Prepared:
    def build(project: Path) -> None:
        init_root(tool, project, configure=False)
        theirs_add_tasks(tool, project, LIST_TASKS)
        tool.cli("driver", "configure", tool.driver, cwd=project)

    project = kept_root(tool, f"task-list-{LIST_TASKS}", build)
    return Prepared(project, ("task", "list"), check=expect_lines(LIST_TASKS))


# --------------------------------------------------------------------------- bulk create
# 10,000 tasks from a template and a range, created but not submitted: ours
# with --no-submit, theirs with no driver configured. Each run adds 10,000
# more tasks to the same root, for both tools alike.

BULK_TASKS = 10_000
BULK_TEMPLATE = ("echo", "@x")
BULK_DATA = f"x=1..{BULK_TASKS}"


def bulk_ours(tool: Tool) -> Prepared:
    project = new_root(tool, "bulk-create")
    argv = ("bulk", "create", "--no-submit", "--data", BULK_DATA, "--", *BULK_TEMPLATE)
    return Prepared(project, argv, check=expect_text_in(f"{BULK_TASKS} tasks"))


def bulk_theirs(tool: Tool) -> Prepared:
    project = new_root(tool, "bulk-create", configure=False)
    return Prepared(project, ("create", "bulk", "--data", BULK_DATA, *BULK_TEMPLATE))


# --------------------------------------------------------------------------- bundle status
# `bundle status NAME` over one bundle of 10,000 created tasks, per task.

BUNDLE = "big"


def bundle_ours(tool: Tool) -> Prepared:
    def build(project: Path) -> None:
        init_root(tool, project)
        tool.cli(
            "bulk",
            "create",
            "--no-submit",
            "--name",
            BUNDLE,
            "--data",
            BULK_DATA,
            "--",
            *BULK_TEMPLATE,
            cwd=project,
        )

    project = kept_root(tool, f"bundle-status-{BULK_TASKS}", build)
    return Prepared(project, ("bundle", "status", BUNDLE), check=expect_lines(BULK_TASKS))


def bundle_theirs(tool: Tool) -> Prepared:
    def build(project: Path) -> None:
        init_root(tool, project, configure=False)
        tool.cli(
            "create", "bulk", "--name", BUNDLE, "--data", BULK_DATA, *BULK_TEMPLATE, cwd=project
        )
        tool.cli("driver", "configure", tool.driver, cwd=project)

    project = kept_root(tool, f"bundle-status-{BULK_TASKS}", build)
    return Prepared(project, ("bundle", "status", BUNDLE))


# --------------------------------------------------------------------------- registry

CASES: tuple[Case, ...] = (
    Case(
        name="task-status",
        summary="`task status ID` of one finished task",
        goal=0.3,
        ours=status_ours,
        theirs=status_theirs,
        repeat=15,
        quick_repeat=5,
    ),
    Case(
        name="task-create",
        summary="`task create -- echo hi`, submitted by the configured driver",
        goal=0.5,
        ours=create_ours,
        theirs=create_theirs,
        repeat=10,
        quick_repeat=4,
    ),
    Case(
        name="task-list",
        summary=f"`task list` over a root of {LIST_TASKS:,} created tasks",
        goal=0.3,
        ours=list_ours,
        theirs=list_theirs,
        repeat=10,
        quick_repeat=4,
    ),
    Case(
        name="bulk-create",
        summary=f"`bulk create` of {BULK_TASKS:,} tasks, created but not submitted",
        goal=0.25,
        ours=bulk_ours,
        theirs=bulk_theirs,
        # Creating 10,000 files is at the mercy of this machine's disk, whose
        # speed swings several-fold between runs: more repetitions steady the median.
        repeat=5,
        quick_repeat=2,
    ),
    Case(
        name="bundle-status",
        summary=f"`bundle status` of a {BULK_TASKS:,}-task bundle (peak memory goal: 150 MB)",
        goal=0.25,
        ours=bundle_ours,
        theirs=bundle_theirs,
        repeat=5,
        quick_repeat=2,
    ),
    Case(
        name="conda",
        summary="`environment provision` of a 3-package conda spec from a local channel, "
        "job start included, against a bare py-rattler script (the floor)",
        goal=3.0,
        ours=conda_ours,
        theirs=conda_floor,
        baseline=rattler_floor_tool,
        repeat=8,
        quick_repeat=3,
    ),
    Case(
        name="slurm-scale",
        summary=(
            f"{slurm_scale.COUNT:,} held tasks to the real Slurm cluster: "
            "`bulk create` against submitit's map_array"
        ),
        goal=1.0,
        ours=slurm_scale.ours,
        theirs=slurm_scale.submitit,
        baseline=slurm_scale.submitit_tool,
        around=slurm_scale.cluster_alone,
        opt_in=True,
        repeat=5,
        quick_repeat=2,
    ),
)
