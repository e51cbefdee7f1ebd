"""Thread mode: each step runs in its own daemon thread of the run process.

The run's ``PlanExecutionContext`` (resources, log manager, IO managers) is built once and
shared, so ``logging.config.dictConfig`` never runs while another thread logs (the deadlock in
FINDINGS.md). Per step:

* the step's thread first builds the run resources it needs that no earlier step built
  (``run_resources``), so a failed initialisation is this step's failure, retried by its policy;
* the step context gets its own asyncio loop (one loop cannot serve two threads);
* its Dagster log handler only accepts records from its own thread (or from any thread while it
  is the only step running), because Dagster attaches every running step's handler to the
  shared ``dagster`` Python logger and would otherwise copy one step's logs into the others;
* stopping (timeout, fail-fast, run termination) mutes the step (from then on nothing it logs
  reaches the event log; the scheduler reports the step's failure itself), terminates the
  subprocesses attributed to it (see ``ownership``) and raises a ``StepStoppedError`` in its
  thread with ``PyThreadState_SetAsyncExc``. The exception is only scheduled while the thread's
  innermost Python frame is the step's own code (checked under the GIL, retried every tick
  otherwise): raised inside ``logging`` or a storage call it could leave a lock held and hang
  the run. This interrupts Python code between bytecodes, and code waiting on a subprocess that
  was just terminated, but NOT a thread blocked inside one C call (``time.sleep``, a socket
  read, a long NumPy or DuckDB call): after a grace period such a thread is abandoned and keeps
  running, muted, in the background until that call returns.
"""

import logging
import queue
import sys
import threading
from collections.abc import Callable, Iterator, Sequence

from orch_assets.executor._internals import (
    DagsterEvent,
    DagsterExecutionInterruptedError,
    ExecutionPlan,
    ExecutionStep,
    KnownExecutionState,
    PlanExecutionContext,
    StepExecutionContext,
    dagster_event_sequence_for_step,
    give_step_own_event_loop,
    serializable_error_info_from_exc_info,
    trigger_hooks,
)
from orch_assets.executor.async_exc import clear_async_exc, raise_in_thread
from orch_assets.executor.errors import StepCancelledError, StepTimeoutError, with_detail
from orch_assets.executor.messages import Kind, StopKind, WorkerMessage, drain
from orch_assets.executor.ownership import (
    StepScope,
    bind_current_thread,
    current_scope,
    install_audit_hook,
    run_step_end_callbacks,
    terminate_in_background,
    unbind_current_thread,
)
from orch_assets.executor.run_resources import RunResources
from orch_assets.executor.stdio import StepPrefixedStream

_STOP_ERRORS: dict[StopKind, type[BaseException]] = {
    StopKind.TIMEOUT: StepTimeoutError,
    StopKind.FAIL_FAST: StepCancelledError,
    StopKind.INTERRUPT: DagsterExecutionInterruptedError,
}

_FRAMEWORK_MODULES = (
    "logging",
    "threading",
    "queue",
    "subprocess",
    "selectors",
    "contextlib",
    "importlib",
    "sqlite3",
    "sqlalchemy",
    "multiprocessing",
    "concurrent",
    "asyncio",
    "dagster",
    "dagster_shared",
    "orch_assets.executor",
)


def _in_step_code(ident: int) -> bool:
    """Whether the thread's innermost Python frame is neither Python's nor Dagster's machinery."""
    frame = sys._current_frames().get(ident)  # noqa: SLF001
    if frame is None:
        return False
    module = str(frame.f_globals.get("__name__", ""))
    return not any(module == name or module.startswith(f"{name}.") for name in _FRAMEWORK_MODULES)


def _both(
    first: Callable[[logging.LogRecord], bool], second: Callable[[logging.LogRecord], object]
) -> Callable[[logging.LogRecord], bool]:
    def accept(record: logging.LogRecord) -> bool:
        return first(record) and bool(second(record))

    return accept


class _StepWorker:
    """One launch of one step in one thread.

    The thread first builds the resources the step needs and the run does not have yet (see
    ``run_resources``), then makes the step's context and runs it; a failed resource
    initialisation ends the launch there, and the scheduler turns it into a retry or a failure.
    """

    def __init__(
        self,
        token: int,
        step: ExecutionStep,
        run_id: str,
        inbox: "queue.Queue[WorkerMessage]",
        streams: Sequence[StepPrefixedStream],
        prepare: Callable[[], Iterator[DagsterEvent]],
        open_context: Callable[["_StepWorker"], StepExecutionContext],
    ) -> None:
        self.token = token
        self.step = step
        self.scope = StepScope(run_id=run_id, step_key=step.key)
        self._inbox = inbox
        self._streams = streams
        self._prepare = prepare
        self._open_context = open_context
        self._lock = threading.Lock()
        self._in_step = False
        self._stop: type[BaseException] | None = None
        self._interrupted = False
        self.thread = threading.Thread(target=self._main, name=f"orch-step-{step.key}", daemon=True)

    def _post(self, kind: Kind, **fields: object) -> None:
        self._inbox.put(WorkerMessage(self.token, self.step.key, kind, **fields))  # type: ignore[arg-type]

    def _main(self) -> None:
        bind_current_thread(self.scope)
        loop = None
        try:
            if self._resources_ready():
                context = self._open_context(self)
                loop = give_step_own_event_loop(context)
                self._run_step(context)
        except BaseException:
            self._post(Kind.ERROR, error=serializable_error_info_from_exc_info(sys.exc_info()))
        finally:
            run_step_end_callbacks(self.scope)
            for stream in self._streams:
                stream.finish_thread()
            if loop is not None:
                loop.close()
            unbind_current_thread()
            self._post(Kind.DONE)

    def _resources_ready(self) -> bool:
        ready = True
        for event in self._prepare():
            ready = ready and not event.is_resource_init_failure
            self._post(Kind.EVENT, event=event)
        return ready

    def _run_step(self, context: StepExecutionContext) -> None:
        events: list[DagsterEvent] = []
        with self._lock:
            self._in_step = True
        try:
            for event in dagster_event_sequence_for_step(context):
                events.append(event)
                self._post(Kind.EVENT, event=event)
            for event in trigger_hooks(context, events):
                self._post(Kind.EVENT, event=event)
        finally:
            with self._lock:
                self._in_step = False
                # Only an exception scheduled by stop() needs taking back (async_exc.py).
                if self._interrupted and self.thread.ident is not None:
                    clear_async_exc(self.thread.ident)

    def stop(self, kind: StopKind, detail: str) -> None:
        """First call: mute the step, terminate its subprocesses. Each call: try to interrupt it."""
        if self._stop is None:
            self._stop = with_detail(_STOP_ERRORS[kind], detail)
            self.scope.muted = True
            terminate_in_background(self.scope.live_processes())
        if self._interrupted:
            return
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1.0)
        try:
            with self._lock:
                ident = self.thread.ident
                if self._in_step and ident is not None and _in_step_code(ident):
                    self._interrupted = raise_in_thread(ident, self._stop)
        finally:
            sys.setswitchinterval(interval)


class ThreadLauncher:
    """Runs steps in threads sharing one ``PlanExecutionContext``."""

    def __init__(
        self,
        job_context: PlanExecutionContext,
        plan: ExecutionPlan,
        resources: RunResources,
        streams: Sequence[StepPrefixedStream],
        running_count: Callable[[], int],
    ) -> None:
        install_audit_hook()
        self._job_context = job_context
        self._plan = plan
        self._resources = resources
        self._streams = streams
        self._running_count = running_count
        self._inbox: queue.Queue[WorkerMessage] = queue.Queue()
        self._workers: dict[int, _StepWorker] = {}

    def launch(
        self, step: ExecutionStep, token: int, known_state: KnownExecutionState, live_cap: int
    ) -> Sequence[DagsterEvent]:
        def open_context(worker: _StepWorker) -> StepExecutionContext:
            context = self._job_context.for_step(step, known_state)
            self._route_logs(context, worker.scope)
            return context

        worker = _StepWorker(
            token,
            step,
            self._job_context.run_id,
            self._inbox,
            self._streams,
            lambda: self._resources.prepare(self._plan, step),
            open_context,
        )
        self._workers[token] = worker
        worker.thread.start()
        return []

    def _route_logs(self, context: StepExecutionContext, scope: StepScope) -> None:
        """Accept a record in this step's handler only if it belongs to this step.

        ``DagsterLogHandler`` overrides ``filter`` without consulting added filters, hence the
        wrapper around its bound method instead of ``addFilter``.
        """
        running_count = self._running_count

        def belongs(record: logging.LogRecord) -> bool:
            if scope.muted:
                return False
            owner = current_scope()
            return owner is scope or (owner is None and running_count() <= 1)

        for handler in context.log.handlers:
            handler.filter = _both(belongs, handler.filter)  # type: ignore[method-assign,assignment]

    def stop(self, token: int, kind: StopKind, detail: str) -> None:
        worker = self._workers.get(token)
        if worker is not None:
            worker.stop(kind, detail)

    def abandon(self, token: int) -> bool:
        worker = self._workers.pop(token, None)
        if worker is None or not worker.thread.is_alive():
            return False
        worker.scope.muted = True
        return True

    @property
    def inbox(self) -> "queue.Queue[WorkerMessage]":
        """Where this launcher's workers report; another launcher may report there too."""
        return self._inbox

    def poll(self, timeout: float) -> list[WorkerMessage]:
        messages = drain(self._inbox, timeout)
        for message in messages:
            if message.kind is Kind.DONE:
                self._workers.pop(message.token, None)
        return messages

    def fit_to_cap(self, cap: int) -> None:
        return None

    def close(self) -> None:
        for worker in list(self._workers.values()):
            worker.thread.join(timeout=0.1)
