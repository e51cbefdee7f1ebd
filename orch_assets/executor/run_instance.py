"""The run's instance as a step sees it: ``context.instance``, except on a Dask worker.

In ``mode: dask`` a step runs against an ephemeral instance, because workers never open the
run's storage. There :func:`run_instance` returns a stand-in that forwards a fixed set of calls
to the run process, which makes them on the run's instance and sends back the result: instance
pools (limits, claims, frees, who holds a slot), run records, run tags and reports that end
another run. So a step can claim a pool slot that other runs see, and wait for one they hold,
as it does in the other modes. The run process also frees, when a launch ends in any way, the
slots its step claimed through the stand-in and did not free (a crash, a timeout, a lost
worker, a stopped run).

Any other attribute of the stand-in raises ``AttributeError`` naming what is forwarded.
"""

import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import psutil
from dagster import AssetExecutionContext, DagsterInstance, OpExecutionContext

INSTANCE_CALLS = frozenset(
    {"get_run_by_id", "add_run_tags", "report_run_failed", "report_run_canceled"}
)
STORAGE_CALLS = frozenset(
    {
        "get_pool_limits",
        "get_pool_config",
        "initialize_concurrency_limit_to_default",
        "claim_concurrency_slot",
        "free_concurrency_slot_for_step",
        "get_concurrency_info",
    }
)
"""Methods of ``instance.event_log_storage`` a step on Dask can call on the run's instance."""

RUN_PROCESS_ENV = "ORCH_DASK_RUN_PROCESS"
"""Set for a step on Dask: ``host:pid:start time`` of the run process (the step's parent is the
Dask worker), so that a step can record which process runs its run."""

_orchestrated: set[str] = set()
_orchestrated_lock = threading.Lock()


def run_process_identity() -> str:
    """``host:pid:start time`` of this process (the format of ``RUN_PROCESS_ENV``)."""
    return f"{socket.gethostname()}:{os.getpid()}:{psutil.Process().create_time():.2f}"


@contextmanager
def orchestrating(run_id: str) -> Iterator[None]:
    """Marks this process as the run process of ``run_id`` while the executor runs it."""
    with _orchestrated_lock:
        _orchestrated.add(run_id)
    try:
        yield
    finally:
        with _orchestrated_lock:
            _orchestrated.discard(run_id)


def orchestrated_here(run_id: str) -> bool:
    """Whether the adaptive executor runs ``run_id`` in this process (thread, sequential mode).

    The parent of such a process is no guide: a run launched from the UI or by the daemon is a
    child of the code server, whose process outlives it.
    """
    with _orchestrated_lock:
        return run_id in _orchestrated


Call = Callable[[str, str, tuple[Any, ...], dict[str, Any]], Any]
"""Makes one call in the run process: (``instance`` | ``storage``, method, args, kwargs)."""


@dataclass(frozen=True)
class _Forwarding:
    run_id: str
    call: Call
    supports_pools: bool


_forwarding: _Forwarding | None = None
_lock = threading.Lock()


class _Forwarded:
    def __init__(self, call: Call, target: str, allowed: frozenset[str]) -> None:
        self._call = call
        self._target = target
        self._allowed = allowed

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or name not in self._allowed:
            raise AttributeError(
                f"{name!r}: in mode dask a step reaches the run's instance only for "
                f"{self._target} calls {sorted(self._allowed)} (see orch_assets/executor/README.md, "
                "'Limits of Dask mode')"
            )

        def forward(*args: Any, **kwargs: Any) -> Any:
            return self._call(self._target, name, args, kwargs)

        return forward


class _StorageStandIn(_Forwarded):
    def __init__(self, call: Call, supports_pools: bool) -> None:
        super().__init__(call, "storage", STORAGE_CALLS)
        self.supports_global_concurrency_limits = supports_pools


class _InstanceStandIn(_Forwarded):
    def __init__(self, forwarding: _Forwarding) -> None:
        super().__init__(forwarding.call, "instance", INSTANCE_CALLS)
        self.event_log_storage = _StorageStandIn(forwarding.call, forwarding.supports_pools)


def forward_to_run_process(run_id: str, call: Call, supports_pools: bool) -> None:
    """Set in a Dask step's process before the step: calls of ``run_id`` go through ``call``."""
    global _forwarding
    with _lock:
        _forwarding = _Forwarding(run_id, call, supports_pools)


def run_instance(context: OpExecutionContext | AssetExecutionContext) -> DagsterInstance:
    """The instance of the step's run, for pools, run records and run tags.

    ``context.instance`` in every mode but dask; there, a stand-in that makes the calls listed
    in :data:`INSTANCE_CALLS` and :data:`STORAGE_CALLS` on the run's instance (typed as an
    instance, but nothing else of one is there).
    """
    with _lock:
        forwarding = _forwarding
    if forwarding is None or forwarding.run_id != context.run_id:
        return context.instance
    return cast("DagsterInstance", _InstanceStandIn(forwarding))
