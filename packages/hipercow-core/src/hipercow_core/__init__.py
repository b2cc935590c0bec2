"""hipercow_core: the task store, schema, drivers and runner shared by every hipercow package.

A library first: it prints nothing and never exits; problems are raised as
`HipercowError`s carrying a hint. Names are imported on first use, so the
runner and quick commands pay only for what they touch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Root": "hipercow_core.root",
    "HipercowError": "hipercow_core.errors",
    "TaskStatus": "hipercow_core.schema",
    "TaskData": "hipercow_core.schema",
    "TaskInfo": "hipercow_core.schema",
    "Resources": "hipercow_core.schema",
    "ClusterInfo": "hipercow_core.schema",
    "parse_resources": "hipercow_core.resources",
    "TaskSpec": "hipercow_core.tasks",
    "create_task": "hipercow_core.tasks",
    "create_tasks": "hipercow_core.tasks",
    "submit_tasks": "hipercow_core.tasks",
    "task_status": "hipercow_core.tasks",
    "tasks_status": "hipercow_core.tasks",
    "task_info": "hipercow_core.tasks",
    "task_log": "hipercow_core.tasks",
    "task_outer_log": "hipercow_core.tasks",
    "follow_log": "hipercow_core.tasks",
    "cancel_tasks": "hipercow_core.tasks",
    "cancel_tasks_explained": "hipercow_core.tasks",
    "wait_task": "hipercow_core.tasks",
    "list_tasks": "hipercow_core.tasks",
    "get_driver": "hipercow_core.drivers.registry",
    "create_expression_task": "hipercow_core.pytasks",
    "create_call_task": "hipercow_core.pytasks",
    "task_result": "hipercow_core.pytasks",
    "TaskFailedError": "hipercow_core.pytasks",
    "configure_driver": "hipercow_core.drivers.registry",
    "resolve_dependencies": "hipercow_core.dependencies",
    "Bundle": "hipercow_core.bundle_handles",
    "BundleRecord": "hipercow_core.schema",
    "create_bulk": "hipercow_core.bundle_handles",
    "bulk_call": "hipercow_core.bundle_handles",
    "Task": "hipercow_core.task_handles",
    "as_completed": "hipercow_core.task_waits",
    "wait": "hipercow_core.task_waits",
    "HipercowExecutor": "hipercow_core.executor",
    "TaskFuture": "hipercow_core.executor",
    "ResultTable": "hipercow_core.sweep_results",
    "bundle_results": "hipercow_core.sweep_results",
    "load_bundle": "hipercow_core.bundles",
    "list_bundles": "hipercow_core.bundles",
    "delete_bundle": "hipercow_core.bundles",
    "create_bundle": "hipercow_core.bundle_tasks",
    "bundle_task_ids": "hipercow_core.bundle_tasks",
    "bundle_statuses": "hipercow_core.bundle_tasks",
    "bundle_summaries": "hipercow_core.bundle_tasks",
    "wait_bundle": "hipercow_core.bundle_tasks",
    "retry_bundle": "hipercow_core.bundle_tasks",
    "cancel_bundle": "hipercow_core.bundle_tasks",
    "parse_data": "hipercow_core.bulk",
    "read_data": "hipercow_core.bulk",
    "bulk_commands": "hipercow_core.bulk",
    "retry_tasks": "hipercow_core.retry",
    "retry_chain": "hipercow_core.retry",
    "follow": "hipercow_core.retry",
    "followed_statuses": "hipercow_core.tasks",
    "wait_tasks": "hipercow_core.tasks",
    "plan_purge": "hipercow_core.purge",
    "purge_tasks": "hipercow_core.purge",
    "task_cores": "hipercow_core.cores",
    "threads_per_process": "hipercow_core.cores",
    "process_pool": "hipercow_core.cores",
}

if TYPE_CHECKING:
    from hipercow_core.bulk import bulk_commands, parse_data, read_data
    from hipercow_core.bundle_handles import Bundle, bulk_call, create_bulk
    from hipercow_core.bundle_tasks import (
        bundle_statuses,
        bundle_summaries,
        bundle_task_ids,
        cancel_bundle,
        create_bundle,
        retry_bundle,
        wait_bundle,
    )
    from hipercow_core.bundles import delete_bundle, list_bundles, load_bundle
    from hipercow_core.cores import process_pool, task_cores, threads_per_process
    from hipercow_core.dependencies import resolve_dependencies
    from hipercow_core.drivers.registry import configure_driver, get_driver
    from hipercow_core.errors import HipercowError
    from hipercow_core.executor import HipercowExecutor, TaskFuture
    from hipercow_core.purge import plan_purge, purge_tasks
    from hipercow_core.pytasks import (
        TaskFailedError,
        create_call_task,
        create_expression_task,
        task_result,
    )
    from hipercow_core.resources import parse_resources
    from hipercow_core.retry import follow, retry_chain, retry_tasks
    from hipercow_core.root import Root
    from hipercow_core.schema import Bundle as BundleRecord
    from hipercow_core.schema import (
        ClusterInfo,
        Resources,
        TaskData,
        TaskInfo,
        TaskStatus,
    )
    from hipercow_core.sweep_results import ResultTable, bundle_results
    from hipercow_core.task_handles import Task
    from hipercow_core.task_waits import as_completed, wait
    from hipercow_core.tasks import (
        TaskSpec,
        cancel_tasks,
        cancel_tasks_explained,
        create_task,
        create_tasks,
        follow_log,
        followed_statuses,
        list_tasks,
        submit_tasks,
        task_info,
        task_log,
        task_outer_log,
        task_status,
        tasks_status,
        wait_task,
        wait_tasks,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hipercow_core' has no attribute '{name}'")
    return getattr(import_module(module), name)


__all__ = [
    "Bundle",
    "BundleRecord",
    "ClusterInfo",
    "HipercowError",
    "HipercowExecutor",
    "Resources",
    "ResultTable",
    "Root",
    "Task",
    "TaskData",
    "TaskFailedError",
    "TaskFuture",
    "TaskInfo",
    "TaskSpec",
    "TaskStatus",
    "as_completed",
    "bulk_call",
    "bulk_commands",
    "bundle_results",
    "bundle_statuses",
    "bundle_summaries",
    "bundle_task_ids",
    "cancel_bundle",
    "cancel_tasks",
    "cancel_tasks_explained",
    "configure_driver",
    "create_bulk",
    "create_bundle",
    "create_call_task",
    "create_expression_task",
    "create_task",
    "create_tasks",
    "delete_bundle",
    "follow",
    "follow_log",
    "followed_statuses",
    "get_driver",
    "list_bundles",
    "list_tasks",
    "load_bundle",
    "parse_data",
    "parse_resources",
    "plan_purge",
    "process_pool",
    "purge_tasks",
    "read_data",
    "resolve_dependencies",
    "retry_bundle",
    "retry_chain",
    "retry_tasks",
    "submit_tasks",
    "task_cores",
    "task_info",
    "task_log",
    "task_outer_log",
    "task_result",
    "task_status",
    "tasks_status",
    "threads_per_process",
    "wait",
    "wait_bundle",
    "wait_task",
    "wait_tasks",
]
