"""Every ``dagster._core`` import the adaptive executor needs, in one place.

Dagster has no public API for writing an executor that schedules steps itself: the stock
executors (``multiprocess``, ``in_process``, the step-delegating ones) are built from the same
internal pieces used here. The project pins ``dagster>=1.13,<1.14`` for that reason, and
``tests/test_executor/test_internals.py`` breaks if any name or signature used below changes.

Besides re-exports this module holds the only code that touches private attributes of those
internals:

* :class:`GatedActiveExecution` hides steps that an extra gate (execution-class limits) says must
  wait, so that a blocked class never stops other ready steps, while tag concurrency limits and
  instance pools stay exactly as :class:`ActiveExecution` applies them;
* :func:`give_step_own_event_loop` replaces the run-wide asyncio loop of a step context, because
  one loop cannot run two steps in two threads at once;
* :func:`single_step_plan` gives a view of the run's plan in which one step is the only step to
  execute, so that Dagster attributes resource-initialisation events to that step;
* :func:`use_compute_log_manager` gives the ephemeral instance of a step on a Dask worker the
  run instance's compute log manager, so the step's stdout/stderr land where the UI reads them;
* :func:`event_log_handlers` and :func:`store_step_events` let thread mode write the events of
  concurrent steps in one SQLite transaction (see ``event_writes``);
* :func:`derive_log_handler` and :func:`swap_log_handler` let thread mode give a run's log
  manager (and every step context made from it) a Dagster log handler of its own class
  (``run_log_handler``).
"""

import asyncio
import logging
from collections import ChainMap
from collections.abc import Callable, Collection, Mapping, MutableSequence, Sequence
from typing import Any, TypeVar, cast

from dagster import DagsterInstance
from dagster._config.pythonic_config import IAttachDifferentObjectToOpContext
from dagster._core.definitions.dependency import NodeHandle
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.definitions.scoped_resources_builder import (
    IContainsGenerator,
    Resources,
    ScopedResourcesBuilder,
)
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.events import (
    ASSET_CHECK_EVENTS,
    ASSET_EVENTS,
    EVENT_TYPE_TO_PIPELINE_RUN_STATUS,
    DagsterEvent,
    DagsterEventType,
    EngineEventData,
)
from dagster._core.events.log import EventLogEntry
from dagster._core.execution.api import (
    ExecuteRunWithPlanIterable,
    create_execution_plan,
    execute_plan_iterator,
)
from dagster._core.execution.compute_logs import create_compute_log_file_key
from dagster._core.execution.context.system import (
    IStepContext,
    PlanExecutionContext,
    PlanOrchestrationContext,
    StepExecutionContext,
)
from dagster._core.execution.context_creation_job import (
    PlanExecutionContextManager,
    create_context_free_log_manager,
)
from dagster._core.execution.plan.active import ActiveExecution
from dagster._core.execution.plan.execute_plan import (
    _trigger_hook as trigger_hooks,
)
from dagster._core.execution.plan.execute_plan import (
    dagster_event_sequence_for_step,
)
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.execution.plan.objects import StepFailureData
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.plan.state import KnownExecutionState
from dagster._core.execution.plan.step import ExecutionStep
from dagster._core.execution.resources_init import (
    get_required_resource_keys_to_init,
    get_transitive_required_resource_keys,
    resource_initialization_manager,
)
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._core.execution.step_dependency_config import (
    StepDependencyConfig,
    get_step_dependency_config_field,
)
from dagster._core.execution.tags import get_tag_concurrency_limits_config
from dagster._core.instance.ref import InstanceRef
from dagster._core.instance.types import _EventListenerLogHandler as EventListenerLogHandler
from dagster._core.log_manager import DagsterLogHandler, DagsterLogManager
from dagster._core.storage.compute_log_manager import ComputeLogManager
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.tags import PRIORITY_TAG
from dagster._serdes import ConfigurableClassData
from dagster._utils import EventGenerationManager, get_run_crash_explanation
from dagster._utils.error import serializable_error_info_from_exc_info
from dagster._utils.interrupts import capture_interrupts
from dagster_shared.error import SerializableErrorInfo

# Imported once by the forkservers that start step processes (process and dask modes), so that
# each step's process does not import it again; taken from the import above, not spelled out.
EXECUTION_API_MODULE = execute_plan_iterator.__module__

__all__ = [
    "ASSET_CHECK_EVENTS",
    "ASSET_EVENTS",
    "EVENT_TYPE_TO_PIPELINE_RUN_STATUS",
    "EXECUTION_API_MODULE",
    "PRIORITY_TAG",
    "STEP_EVENT_TYPES",
    "ComputeLogManager",
    "ConfigurableClassData",
    "DagsterEvent",
    "DagsterEventType",
    "DagsterExecutionInterruptedError",
    "DagsterInstance",
    "DagsterLogHandler",
    "DagsterLogManager",
    "EngineEventData",
    "EventGenerationManager",
    "EventListenerLogHandler",
    "EventLogEntry",
    "ExecuteRunWithPlanIterable",
    "ExecutionPlan",
    "ExecutionStep",
    "GatedActiveExecution",
    "IAttachDifferentObjectToOpContext",
    "IContainsGenerator",
    "IStepContext",
    "InstanceConcurrencyContext",
    "InstanceRef",
    "KnownExecutionState",
    "NodeHandle",
    "PlanExecutionContext",
    "PlanExecutionContextManager",
    "PlanOrchestrationContext",
    "ReconstructableJob",
    "Resources",
    "RetryMode",
    "ScopedResourcesBuilder",
    "SerializableErrorInfo",
    "StepDependencyConfig",
    "StepExecutionContext",
    "StepFailureData",
    "capture_interrupts",
    "create_compute_log_file_key",
    "create_context_free_log_manager",
    "create_execution_plan",
    "dagster_event_sequence_for_step",
    "dagster_log_handler",
    "derive_log_handler",
    "event_log_handlers",
    "execute_plan_iterator",
    "get_required_resource_keys_to_init",
    "get_retries_config",
    "get_run_crash_explanation",
    "get_step_dependency_config_field",
    "get_tag_concurrency_limits_config",
    "get_transitive_required_resource_keys",
    "give_step_own_event_loop",
    "handles_events_as_dagster_does",
    "is_plain_step_event",
    "priority_sort_key",
    "resource_initialization_manager",
    "serializable_error_info_from_exc_info",
    "single_step_plan",
    "store_step_events",
    "swap_log_handler",
    "trigger_hooks",
    "use_compute_log_manager",
]

StepGate = Callable[[Sequence[ExecutionStep]], Collection[str]]
"""Given the ready steps in launch order, return the keys of those that must wait this tick."""


def priority_sort_key(step: ExecutionStep) -> float:
    """The launch order ``ActiveExecution`` uses by default: higher ``dagster/priority`` first."""
    return int(step.tags.get(PRIORITY_TAG, 0)) * -1


class GatedActiveExecution(ActiveExecution):
    """``ActiveExecution`` that asks a gate which ready steps must wait before it picks a batch.

    Held steps are removed from the executable list only for the duration of one
    ``get_steps_to_execute`` call and put back in their original order, so the rest of the
    state machine (retries, skips, pools, tag limits) never sees the difference.
    """

    def __init__(self, *args: Any, gate: StepGate, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gate = gate

    def get_steps_to_execute(self, limit: int | None = None) -> Sequence[ExecutionStep]:
        self._update()
        ready = sorted((self.get_step_by_key(k) for k in self._executable), key=priority_sort_key)
        held = set(self._gate(ready))
        if not held:
            return super().get_steps_to_execute(limit=limit)
        before = list(self._executable)
        self._executable = [key for key in before if key not in held]
        launched: Sequence[ExecutionStep] = []
        try:
            launched = super().get_steps_to_execute(limit=limit)
        finally:
            launched_keys = {step.key for step in launched}
            newly_ready = [key for key in self._executable if key not in before]
            self._executable = [key for key in before if key not in launched_keys] + newly_ready
        return launched


def give_step_own_event_loop(step_context: StepExecutionContext) -> asyncio.AbstractEventLoop:
    """Give a step context a fresh asyncio loop; the caller closes it when the step ends."""
    loop = asyncio.new_event_loop()
    step_context._event_loop = loop  # noqa: SLF001
    return loop


def single_step_plan(plan: ExecutionPlan, step: ExecutionStep) -> ExecutionPlan:
    """The run's plan with ``step`` as its only step (as in a step worker process's plan).

    Upstream steps stay reachable by key (IO manager keys of inputs are looked up there); nothing
    is copied, so this costs the same for any plan size. ``_replace`` skips the constructor's
    checks, which would reject the lookup view. A step resolved from a dynamic output after the
    plan was built is found too.
    """
    return plan._replace(
        step_dict={step.handle: step},
        step_dict_by_key=ChainMap({step.key: step}, cast("dict[str, Any]", plan.step_dict_by_key)),
        step_handles_to_execute=[step.handle],
    )


def use_compute_log_manager(instance: DagsterInstance, manager: ComputeLogManager) -> None:
    """Make ``manager`` the compute log manager of ``instance`` (an ephemeral one has a no-op
    manager and no constructor argument for another)."""
    instance._compute_log_manager = manager  # noqa: SLF001
    manager.register_instance(instance)


STEP_EVENT_TYPES = frozenset(
    {
        DagsterEventType.STEP_START,
        DagsterEventType.STEP_INPUT,
        DagsterEventType.STEP_OUTPUT,
        DagsterEventType.STEP_SUCCESS,
        DagsterEventType.STEP_FAILURE,
        DagsterEventType.STEP_SKIPPED,
        DagsterEventType.STEP_UP_FOR_RETRY,
        DagsterEventType.STEP_RESTARTED,
        DagsterEventType.LOADED_INPUT,
        DagsterEventType.HANDLED_OUTPUT,
        DagsterEventType.ENGINE_EVENT,
        DagsterEventType.LOGS_CAPTURED,
        DagsterEventType.RESOURCE_INIT_STARTED,
        DagsterEventType.RESOURCE_INIT_SUCCESS,
        DagsterEventType.RESOURCE_INIT_FAILURE,
        DagsterEventType.HOOK_COMPLETED,
        DagsterEventType.HOOK_ERRORED,
        DagsterEventType.HOOK_SKIPPED,
    }
)
"""Events that ``SqliteEventLogStorage.store_event`` writes as one row of the run's database and
nothing else: no asset index, no check index, no run status (those events take Dagster's path)."""


def event_log_handlers(log_manager: DagsterLogManager) -> MutableSequence[logging.Handler]:
    """The handlers a run's log manager (and every step context made from it) writes through.

    Step contexts share this list object, so replacing an entry affects all of them.
    """
    handlers = log_manager._dagster_handler._handlers  # noqa: SLF001
    if not isinstance(handlers, list):
        raise TypeError(f"unexpected handler sequence {type(handlers).__name__}")
    return handlers


H = TypeVar("H", bound=DagsterLogHandler)


def derive_log_handler(
    cls: type[H], handler: DagsterLogHandler, extra_metadata: Mapping[str, str] | None = None
) -> H:
    """A handler of class ``cls`` with ``handler``'s metadata (plus ``extra_metadata``), loggers
    and handler list (the same list object, as ``DagsterLogHandler.with_tags`` shares it)."""
    metadata = cast("Any", {**handler.metadata, **(extra_metadata or {})})
    return cls(
        metadata=metadata,
        loggers=handler._loggers,  # noqa: SLF001
        handlers=handler._handlers,  # noqa: SLF001
    )


def dagster_log_handler(log_manager: DagsterLogManager) -> DagsterLogHandler:
    """The handler through which ``log_manager`` turns log calls into events."""
    return log_manager._dagster_handler  # noqa: SLF001


def swap_log_handler(
    log_manager: DagsterLogManager, handler: DagsterLogHandler
) -> DagsterLogHandler:
    """Make ``handler`` the Dagster handler of ``log_manager``; return the one it replaces.

    Only while no Python log capture is on (``begin_python_log_capture`` attaches the handler
    to the managed loggers): the executor swaps before any step and back after the last.
    """
    old = log_manager._dagster_handler  # noqa: SLF001
    log_manager.removeHandler(old)
    log_manager._dagster_handler = handler  # noqa: SLF001
    log_manager.addHandler(handler)
    return old


def is_plain_step_event(entry: EventLogEntry) -> bool:
    """Whether Dagster stores this entry as a single row of the run's event log and nothing else."""
    event = entry.dagster_event
    return event is None or event.event_type in STEP_EVENT_TYPES


_EVENT_HANDLING_METHODS = ("handle_new_event", "should_store_event")


def handles_events_as_dagster_does(instance: DagsterInstance) -> bool:
    """Whether ``handle_new_event`` is Dagster's own: neither overridden by the instance's class
    (``instance_class`` in dagster.yaml) nor replaced or wrapped on the instance object."""
    cls = type(instance)
    return all(
        getattr(cls, name) is getattr(DagsterInstance, name) and name not in vars(instance)
        for name in _EVENT_HANDLING_METHODS
    )


INSERT_ROWS_PER_STATEMENT = 500
"""Rows per multi-row INSERT (7 parameters a row; SQLite allows 32766 per statement)."""


def store_step_events(instance: DagsterInstance, entries: Sequence[EventLogEntry]) -> bool:
    """Insert entries of one run in one transaction of its SQLite event log; False if not done.

    Rows go in with Dagster's own multi-row INSERT (``prepare_insert_event_batch``, the rows of
    ``prepare_insert_event``), in entry order.

    Only for the storage class whose ``store_event`` is known to be "insert one row into the run
    shard" for plain step events, only for an instance whose event handling is Dagster's own
    (:func:`handles_events_as_dagster_does`), and only while nobody subscribed to the run's events
    in this process (``handle_new_event`` would call them); otherwise the caller uses
    ``handle_new_event`` per entry.
    """
    storage = instance.event_log_storage
    if type(storage) is not SqliteEventLogStorage or not entries:
        return False
    if not handles_events_as_dagster_does(instance):
        return False
    run_id = entries[0].run_id
    if instance._subscribers.get(run_id):  # noqa: SLF001
        return False
    if any(e.run_id != run_id or not is_plain_step_event(e) for e in entries):
        return False
    with storage.run_connection(run_id) as conn:
        for start in range(0, len(entries), INSERT_ROWS_PER_STATEMENT):
            chunk = entries[start : start + INSERT_ROWS_PER_STATEMENT]
            conn.execute(storage.prepare_insert_event_batch(chunk))
    return True
