"""The scheduling loop shared by all modes.

One loop in the run's main thread owns the Dagster ``ActiveExecution`` state machine; workers
(threads or processes, behind a :class:`StepLauncher`) only run steps and report messages. Each
tick: check for a termination request, sample psutil when due, launch ready steps up to the live
cap (class limits, tag limits and pools applied), enforce timeouts, then wait for worker
messages until the next thing is due. The loop wakes as soon as a message arrives, so a finished
step frees its slot immediately rather than at the next tick.
"""

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dagster import DagsterEventType, DagsterExecutionInterruptedError, Executor

from orch_assets.executor._internals import (
    DagsterEvent,
    EngineEventData,
    ExecutionPlan,
    ExecutionStep,
    GatedActiveExecution,
    InstanceConcurrencyContext,
    PlanExecutionContext,
    PlanOrchestrationContext,
    SerializableErrorInfo,
    get_run_crash_explanation,
)
from orch_assets.executor.config import AdaptiveSettings
from orch_assets.executor.messages import Kind, StepLauncher, StopKind, WorkerMessage
from orch_assets.executor.monitor import CapacityMonitor
from orch_assets.executor.outcomes import Outcomes
from orch_assets.executor.steps import StepTraits

STOP_GRACE_S = 1.0
STOP_RETRY_S = 0.05
MAX_WAIT_S = 1.0
MIN_WAIT_S = 0.02

Context = PlanExecutionContext | PlanOrchestrationContext
LauncherFactory = Callable[[Callable[[], int]], StepLauncher]


@dataclass
class _Running:
    token: int
    step: ExecutionStep
    deadline: float | None
    timeout_s: float | None
    stop_kind: StopKind | None = None
    stop_detail: str = ""
    stopped_at: float = 0.0


class Scheduler:
    """Runs one execution plan; :meth:`run` yields every event of the steps."""

    def __init__(
        self,
        executor: Executor,
        context: Context,
        plan: ExecutionPlan,
        settings: AdaptiveSettings,
        monitor: CapacityMonitor,
        traits: StepTraits,
        launcher_factory: LauncherFactory,
        start_allowance_s: float = 0.0,
    ) -> None:
        self._executor = executor
        self._ctx = context
        self._plan = plan
        self._settings = settings
        self._monitor = monitor
        self._traits = traits
        self._launcher_factory = launcher_factory
        self._allowance = start_allowance_s
        self._running: dict[str, _Running] = {}
        self._tokens = itertools.count(1)
        self._interrupted = False
        self._dropped: set[int] = set()
        self._outstanding: set[int] = set()
        self.outcomes = Outcomes(settings.fail_fast)

    def _gate(self, ready: list[ExecutionStep]) -> set[str]:
        return self._traits.held_by_class(ready, self._running.keys())

    def run(self) -> Iterator[DagsterEvent]:
        with (
            InstanceConcurrencyContext(self._ctx.instance, self._ctx.dagster_run) as pools,
            GatedActiveExecution(
                self._plan,
                retry_mode=self._settings.retries,
                tag_concurrency_limits=self._settings.tag_concurrency_limits,
                instance_concurrency_context=pools,
                step_dependency_config=self._settings.step_dependency_config,
                gate=self._gate,
            ) as active,
        ):
            self._active = active
            self._launcher = self._launcher_factory(lambda: len(self._running))
            try:
                yield from self._loop()
            finally:
                self._launcher.close()
            yield from self._finish()

    def _engine_event(self, message: str, step: ExecutionStep | None = None, **meta: object) -> DagsterEvent:
        context = self._ctx.for_step(step) if step is not None else self._ctx
        return DagsterEvent.engine_event(context, message, EngineEventData(metadata=meta))  # type: ignore[arg-type]

    def _loop(self) -> Iterator[DagsterEvent]:
        while True:
            if not self._interrupted and self._active.check_for_interrupts():
                self._interrupted = True
                self._active.mark_interrupted()
                yield self._engine_event(
                    f"Adaptive executor: termination requested; stopping {len(self._running)} running steps."
                )
                self._stop_all(StopKind.INTERRUPT, "the run was terminated")
            notice = self._monitor.sample_if_due()
            if notice is not None:
                yield self._engine_event(notice.message, **notice.metadata)
                self._launcher.fit_to_cap(self._monitor.cap)
            if not self._interrupted and not self.outcomes.stopping:
                yield from self._launch_ready()
            yield from self._enforce_deadlines()
            for message in self._launcher.poll(self._wait_time()):
                yield from self._handle(message)
            yield from self._active.plan_events_iterator(self._ctx)
            stopping = self._interrupted or self.outcomes.stopping
            finished = stopping or self._active.is_complete
            if finished and not self._running and not self._outstanding:
                return

    def _wait_time(self) -> float:
        now = time.monotonic()
        due = [self._monitor.seconds_to_next_sample(), MAX_WAIT_S]
        sleep = self._active.sleep_interval()
        if sleep > 0:
            due.append(sleep)
        for running in self._running.values():
            if running.stop_kind is not None:
                due.append(min(STOP_RETRY_S, running.stopped_at + STOP_GRACE_S - now))
            elif running.deadline is not None:
                due.append(running.deadline - now)
        return max(MIN_WAIT_S, min(due))

    def _launch_ready(self) -> Iterator[DagsterEvent]:
        free = self._monitor.cap - len(self._running)
        if free <= 0:
            return
        steps = self._active.get_steps_to_execute(limit=free)
        yield from self._active.concurrency_event_iterator(self._ctx)
        for step in steps:
            token = next(self._tokens)
            timeout = self._traits.timeout_s(step)
            deadline = None if timeout is None else time.monotonic() + self._allowance + timeout
            self._running[step.key] = _Running(token, step, deadline, timeout)
            self._outstanding.add(token)
            self.outcomes.launched.add(step.key)
            self._monitor.metrics.peak_concurrency = max(
                self._monitor.metrics.peak_concurrency, len(self._running)
            )
            yield from self._launcher.launch(
                step, token, self._active.get_known_state(), self._monitor.cap
            )

    def _stop(self, running: _Running, kind: StopKind, detail: str) -> None:
        running.stop_kind, running.stop_detail = kind, detail
        running.stopped_at = time.monotonic()
        self._launcher.stop(running.token, kind, detail)

    def _stop_all(self, kind: StopKind, why: str) -> None:
        for key, running in self._running.items():
            if running.stop_kind is None:
                self._stop(running, kind, f'Step "{key}" was stopped: {why}.')

    def _enforce_deadlines(self) -> Iterator[DagsterEvent]:
        now = time.monotonic()
        for key, running in list(self._running.items()):
            if running.stop_kind is None and running.deadline is not None and now >= running.deadline:
                detail = (
                    f'Step "{key}" timed out: it ran longer than its timeout of '
                    f"{running.timeout_s:g} s (step_timeout_s or tag orch/step_timeout_s)."
                )
                yield self._engine_event(f"Adaptive executor: {detail} Stopping it.", running.step)
                self._stop(running, StopKind.TIMEOUT, detail)
            elif running.stop_kind is not None and now < running.stopped_at + STOP_GRACE_S:
                self._launcher.stop(running.token, running.stop_kind, running.stop_detail)
            elif running.stop_kind is not None:
                abandoned = self._launcher.abandon(running.token)
                if abandoned:
                    self._outstanding.discard(running.token)
                note = (
                    " Its thread was blocked in a call that cannot be interrupted and was "
                    "abandoned; anything it logs from now on is dropped."
                    if abandoned
                    else ""
                )
                yield from self._fail_stopped(running, note)

    def _fail_stopped(
        self, running: _Running, note: str = "", cause: SerializableErrorInfo | None = None
    ) -> Iterator[DagsterEvent]:
        """Fail a stopped step; whatever its worker reported after the stop is replaced."""
        assert running.stop_kind is not None
        self._dropped.add(running.token)
        cls_name = {
            StopKind.TIMEOUT: "StepTimeoutError",
            StopKind.FAIL_FAST: "StepCancelledError",
            StopKind.INTERRUPT: "DagsterExecutionInterruptedError",
        }[running.stop_kind]
        step_context = self._ctx.for_step(running.step)
        event = self.outcomes.stopped_failure_event(
            step_context, running.stop_detail + note, cls_name, cause
        )
        yield from self._complete(running, event)

    def _complete(self, running: _Running, event: DagsterEvent) -> Iterator[DagsterEvent]:
        """Record a terminal event the scheduler made for the current launch of a step."""
        yield event
        self._active.handle_event(event)
        yield from self._after_terminal(running, event)

    def _after_terminal(self, running: _Running, event: DagsterEvent) -> Iterator[DagsterEvent]:
        self._running.pop(running.step.key, None)
        if not event.is_step_failure:
            return
        self.outcomes.record_failure(running.step.key, running.stop_kind)
        if self.outcomes.should_trigger_fail_fast(running.stop_kind):
            self.outcomes.stopping = True
            yield self._engine_event(
                f'Adaptive executor: step "{running.step.key}" failed and fail_fast is on; '
                f"starting no more steps and stopping {len(self._running)} running ones."
            )
            self._stop_all(
                StopKind.FAIL_FAST, f'step "{running.step.key}" failed and fail_fast is on'
            )

    def _handle(self, message: WorkerMessage) -> Iterator[DagsterEvent]:
        """Route one worker message; completions are matched by launch token, not step key.

        A launch stays outstanding until its worker says it is done, even after the step's
        terminal event (hooks still run), so a retry can overlap the previous attempt's end.
        """
        if message.kind in (Kind.DONE, Kind.CRASH):
            self._outstanding.discard(message.token)
        if message.token in self._dropped:
            return
        running = self._running.get(message.step_key)
        current = running is not None and running.token == message.token
        if message.kind is Kind.EVENT and message.event is not None and not current:
            yield message.event
        elif running is None or not current:
            return
        elif running.stop_kind is not None:
            yield from self._handle_after_stop(running, message)
        elif message.kind is Kind.EVENT and message.event is not None:
            yield from self._handle_event(running, message.event)
        elif message.kind is Kind.DONE:
            self._running.pop(message.step_key, None)
            self._active.verify_complete(self._ctx, message.step_key)
        else:
            yield from self._fail_lost(running, message)

    def _handle_after_stop(self, running: _Running, message: WorkerMessage) -> Iterator[DagsterEvent]:
        """A stopped step's worker is muted: drop its events until it ends, then fail the step."""
        event = message.event
        if message.kind is Kind.EVENT and event is not None:
            if not (event.is_step_success or event.is_step_failure or event.is_step_up_for_retry):
                return
            cause = event.step_failure_data.error if event.is_step_failure else None
            yield from self._fail_stopped(running, cause=cause)
        else:
            self._launcher.abandon(running.token)
            yield from self._fail_stopped(running, cause=message.error)

    def _handle_event(self, running: _Running, event: DagsterEvent) -> Iterator[DagsterEvent]:
        if event.event_type == DagsterEventType.STEP_START and running.timeout_s is not None:
            running.deadline = time.monotonic() + running.timeout_s
        yield event
        self._active.handle_event(event)
        if event.is_resource_init_failure and event.engine_event_data.error is not None:
            retry_or_failure = self._executor.log_failure_or_retry_event_after_error(
                self._ctx.for_step(running.step),
                event.engine_event_data.error,
                self._active.get_known_state(),
            )
            yield from self._complete(running, retry_or_failure)
        elif event.is_step_success or event.is_step_failure or event.is_step_up_for_retry:
            yield from self._after_terminal(running, event)

    def _fail_lost(self, running: _Running, message: WorkerMessage) -> Iterator[DagsterEvent]:
        """The worker crashed or raised before the step reported success or failure."""
        key = running.step.key
        if message.kind is Kind.CRASH:
            text = get_run_crash_explanation(
                prefix=f"Adaptive executor: worker process for step {key}",
                exit_code=message.exit_code if message.exit_code is not None else -1,
            )
        else:
            text = f"Adaptive executor: an error escaped the worker of step {key}."
        error = message.error or self.outcomes.error_info(text, "ChildProcessCrashException")
        yield DagsterEvent.engine_event(
            self._ctx.for_step(running.step), text, EngineEventData.engine_error(error)
        )
        event = self._executor.log_failure_or_retry_event_after_error(
            self._ctx.for_step(running.step), error, self._active.get_known_state()
        )
        yield from self._complete(running, event)

    def _finish(self) -> Iterator[DagsterEvent]:
        if self._interrupted:
            yield self._engine_event("Adaptive executor: stopped all running steps after termination.")
            raise DagsterExecutionInterruptedError()
        if self.outcomes.stopping:
            summary = self.outcomes.summary(self._plan.step_keys_to_execute)
            yield self._engine_event(f"Adaptive executor: {summary}")
            if not self._active.is_complete:
                raise self.outcomes.fail_fast_error(summary)
