"""The only place that touches dbt-core internals (dbt-core 1.11, pinned in pyproject.toml).

dbt Core has only a global ``--threads``. To run each model under its execution class and a live
cap, the worker puts a gate between dbt's graph queue and its thread pool: dbt's
``GraphRunnableTask.run_queue(pool)`` takes every ready node off the graph queue and hands it to
``pool.apply_async``; wrapping that ``pool`` argument lets the gate decide WHEN each ready node is
handed to the real pool, without changing what dbt runs or how it records results. Nodes reach
``apply_async`` in two shapes (``BuildTask``): ``call_runner(runner)`` (``runner.node``) and
``call_model_and_unit_tests_runner(node, pool)`` (a model with its unit tests).

``tests/test_dbt/test_dbt_internals.py`` fails when any of these shapes changes.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dbt.task.build import BuildTask
from dbt.task.runnable import GraphRunnableTask

from orch_assets.dbt.classes import DEFAULT_EXECUTION_CLASS, node_class

PoolWrapper = Callable[[Any], Any]

_install_lock = threading.Lock()
_ORIGINAL_RUN_QUEUE = GraphRunnableTask.run_queue


@contextmanager
def wrapped_thread_pool(wrap: PoolWrapper) -> Iterator[None]:
    """While active, every dbt task in this process runs its queue on ``wrap(pool)``.

    One dbt invocation at a time per process (dbt's flags are global anyway), so the patch is
    process-wide for the duration of one invocation.
    """

    def run_queue(self: GraphRunnableTask, pool: Any) -> None:
        return _ORIGINAL_RUN_QUEUE(self, wrap(pool))

    with _install_lock:
        GraphRunnableTask.run_queue = run_queue  # type: ignore[method-assign]
    try:
        yield
    finally:
        with _install_lock:
            GraphRunnableTask.run_queue = _ORIGINAL_RUN_QUEUE  # type: ignore[method-assign]


def submitted_node(args: tuple[Any, ...] | list[Any]) -> Any:
    """The dbt node (manifest node object) of one ``apply_async`` submission."""
    first = args[0]
    return getattr(first, "node", first)


def node_execution_class(node: Any) -> str | None:
    """The execution class of a dbt node object (:func:`orch_assets.dbt.classes.node_class`:
    meta, a class tag, else ``parallel_safe`` for a model; None for tests and seeds)."""
    return node_class(node, DEFAULT_EXECUTION_CLASS)


def internal_shapes() -> dict[str, list[str]]:
    """Signatures the gate relies on; the internals test compares them with the expected ones."""
    return {
        "GraphRunnableTask.run_queue": list(inspect.signature(_ORIGINAL_RUN_QUEUE).parameters),
        "GraphRunnableTask.call_runner": list(
            inspect.signature(GraphRunnableTask.call_runner).parameters
        ),
        "BuildTask.call_model_and_unit_tests_runner": list(
            inspect.signature(BuildTask.call_model_and_unit_tests_runner).parameters
        ),
    }


def submits_through_pool_apply_async() -> bool:
    """dbt hands nodes to the pool via ``pool.apply_async`` (what the gate intercepts)."""
    sources = inspect.getsource(GraphRunnableTask._submit) + inspect.getsource(  # noqa: SLF001
        BuildTask.handle_model_with_unit_tests_node
    )
    return sources.count("pool.apply_async(") == 2


def pool_size(pool: Any) -> int | None:
    """dbt's ``--threads`` as the size of the pool it runs nodes on (``DbtThreadPool.max_threads``)."""
    size = getattr(pool, "max_threads", None)
    return int(size) if isinstance(size, int) else None
