"""The scheduling loop shared by all modes.

One loop in the run's main thread owns the Dagster ``ActiveExecution`` state machine; workers
(threads or processes, behind a :class:`StepLauncher`) only run steps and report messages. Each
tick: check for a termination request, sample psutil when due, launch ready steps up to the live
cap (class limits, tag limits and pools applied), enforce timeouts, then wait for worker
messages until the next thing is due. The loop wakes as soon as a message arrives, so a finished
step frees its slot immediately rather than at the next tick.
"""

import time
from collections.abc import Callable, Iterator, Mapping, Sequence

from dagster import (
    DagsterEventType,
    DagsterExecutionInterruptedError,
    DagsterSubprocessError,
    Executor,
)

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
from orch_assets.executor.closing import StepClock, stored_step_intervals
from orch_assets.executor.config import AdaptiveSettings
from orch_assets.executor.launches import Launch, Launches
from orch_assets.executor.messages import Kind, StepLauncher, StopKind, WorkerMessage
from orch_assets.executor.monitor import CapacityMonitor
from orch_assets.executor.outcomes import Outcomes
from orch_assets.executor.steps import StepTraits

MAX_WAIT_S = 1.0
MIN_WAIT_S = 0.02

Context = PlanExecutionContext | PlanOrchestrationContext
LauncherFactory = Callable[[Callable[[], int]], StepLauncher]
STOPPED_ERROR_CLASS = {
    StopKind.TIMEOUT: "StepTimeoutError",
    StopKind.FAIL_FAST: "StepCancelledError",
    StopKind.INTERRUPT: "DagsterExecutionInterruptedError",
}


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
        self._launches = Launches(start_allowance_s)
        self._interrupted = False
        self._init_errors: dict[str, SerializableErrorInfo] = {}
        self.outcomes = Outcomes(settings.fail_fast)
        self.clock = StepClock()

    def _gate(self, ready: Sequence[ExecutionStep]) -> set[str]:
        return self._traits.held_by_class(ready, self._launches.by_key.keys())

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
            self._launcher = self._launcher_factory(lambda: len(self._launches))
            try:
                yield from self._loop()
            finally:
                self._launcher.close()
            yield from self._finish()

    def _engine_event(
        self,
        message: str,
        step: ExecutionStep | None = None,
        metadata: Mapping[str, str | int | float] | None = None,
    ) -> DagsterEvent:
        context = self._ctx.for_step(step) if step is not None else self._ctx
        return DagsterEvent.engine_event(context, message, EngineEventData(metadata=metadata))

    def _loop(self) -> Iterator[DagsterEvent]:
        while True:
            if not self._interrupted and self._active.check_for_interrupts():
                self._interrupted = True
                self._active.mark_interrupted()
                yield self._engine_event(
                    "Adaptive executor: termination requested; stopping "
                    f"{len(self._launches)} running steps."
                )
                self._stop_all(StopKind.INTERRUPT, "the run was terminated")
            notice = self._monitor.sample_if_due()
            if notice is not None:
                yield self._engine_event(notice.message, metadata=notice.metadata)
                self._launcher.fit_to_cap(self._monitor.cap)
            if not self._interrupted and not self.outcomes.stopping:
                yield from self._launch_ready()
            yield from self._enforce_deadlines()
            for message in self._launcher.poll(self._wait_time()):
                yield from self._handle(message)
            yield from self._active.plan_events_iterator(self._ctx)
            stopping = self._interrupted or self.outcomes.stopping
            if (stopping or self._active.is_complete) and self._launches.idle:
                return

    def _wait_time(self) -> float:
        due = [self._monitor.seconds_to_next_sample(), MAX_WAIT_S]
        due += self._launches.due_in(time.monotonic())
        sleep = self._active.sleep_interval()
        if sleep > 0:
            due.append(sleep)
        return max(MIN_WAIT_S, min(due))

    def _launch_ready(self) -> Iterator[DagsterEvent]:
        free = self._monitor.cap - len(self._launches)
        if free <= 0:
            return
        steps = self._active.get_steps_to_execute(limit=free)
        yield from self._active.concurrency_event_iterator(self._ctx)
        for step in steps:
            launch = self._launches.add(step, self._traits.timeout_s(step))
            self.outcomes.launched.add(step.key)
            self._monitor.metrics.peak_concurrency = self._launches.peak
            yield from self._launcher.launch(
                step, launch.token, self._active.get_known_state(), self._monitor.cap
            )

    def _stop(self, launch: Launch, kind: StopKind, detail: str) -> None:
        launch.stop(kind, detail)
        self._launcher.stop(launch.token, kind, detail)

    def _stop_all(self, kind: StopKind, why: str) -> None:
        for key, launch in self._launches.by_key.items():
            if launch.stop_kind is None:
                self._stop(launch, kind, f'Step "{key}" was stopped: {why}.')

    def _enforce_deadlines(self) -> Iterator[DagsterEvent]:
        now = time.monotonic()
        for key, launch in list(self._launches.by_key.items()):
            if launch.overdue(now):
                detail = (
                    f'Step "{key}" timed out: it ran longer than its timeout of '
                    f"{launch.timeout_s:g} s (step_timeout_s or tag orch/step_timeout_s)."
                )
                yield self._engine_event(f"Adaptive executor: {detail} Stopping it.", launch.step)
                self._stop(launch, StopKind.TIMEOUT, detail)
            elif launch.in_grace(now):
                self._launcher.stop(launch.token, launch.stop_kind, launch.stop_detail)  # type: ignore[arg-type]
            elif launch.stop_kind is not None:
                abandoned = self._launcher.abandon(launch.token)
                note = (
                    " Its thread was blocked in a call that cannot be interrupted and was "
                    "abandoned; anything it logs from now on is dropped."
                    if abandoned
                    else ""
                )
                yield from self._fail_stopped(launch, note, worker_gone=abandoned)

    def _fail_stopped(
        self,
        launch: Launch,
        note: str = "",
        cause: SerializableErrorInfo | None = None,
        worker_gone: bool = False,
    ) -> Iterator[DagsterEvent]:
        """Fail a stopped step; whatever its worker reports after the stop is replaced."""
        assert launch.stop_kind is not None
        self._launches.drop(launch, worker_gone)
        event = self.outcomes.stopped_failure_event(
            self._ctx.for_step(launch.step),
            launch.stop_detail + note,
            STOPPED_ERROR_CLASS[launch.stop_kind],
            cause,
        )
        yield from self._complete(launch, event)

    def _complete(self, launch: Launch, event: DagsterEvent) -> Iterator[DagsterEvent]:
        """Record a terminal event the scheduler made for the current launch of a step."""
        yield event
        self._active.handle_event(event)
        yield from self._after_terminal(launch, event)

    def _after_terminal(self, launch: Launch, event: DagsterEvent) -> Iterator[DagsterEvent]:
        self._launches.end(launch)
        self.clock.step_ended(launch.token)
        if not event.is_step_failure:
            return
        self.outcomes.record_failure(launch.step.key, launch.stop_kind)
        if self.outcomes.should_trigger_fail_fast(launch.stop_kind):
            self.outcomes.stopping = True
            yield self._engine_event(
                f'Adaptive executor: step "{launch.step.key}" failed and fail_fast is on; '
                f"starting no more steps and stopping {len(self._launches)} running ones."
            )
            self._stop_all(
                StopKind.FAIL_FAST, f'step "{launch.step.key}" failed and fail_fast is on'
            )

    def _handle(self, message: WorkerMessage) -> Iterator[DagsterEvent]:
        """Route one worker message; completions are matched by launch token, not step key.

        A launch stays outstanding until its worker says it is done, even after the step's
        terminal event (hooks still run), so a retry can overlap the previous attempt's end.
        """
        if message.kind in (Kind.DONE, Kind.CRASH):
            self._launches.outstanding.discard(message.token)
        if message.token in self._launches.dropped:
            return
        launch = self._launches.current(message)
        if launch is None:
            if message.kind is Kind.EVENT and message.event is not None:
                yield message.event
        elif launch.stop_kind is not None:
            yield from self._handle_after_stop(launch, message)
        elif message.kind is Kind.EVENT and message.event is not None:
            yield from self._handle_event(launch, message.event)
        elif message.kind is Kind.DONE:
            self._launches.end(launch)
            self._active.verify_complete(self._ctx, message.step_key)
        else:
            yield from self._fail_lost(launch, message)

    def _handle_after_stop(self, launch: Launch, message: WorkerMessage) -> Iterator[DagsterEvent]:
        """A stopped step's worker is muted: drop its events until it ends, then fail the step."""
        event = message.event
        if message.kind is Kind.EVENT and event is not None:
            if not (event.is_step_success or event.is_step_failure or event.is_step_up_for_retry):
                return
            cause = event.step_failure_data.error if event.is_step_failure else None
            yield from self._fail_stopped(launch, cause=cause)
        else:
            self._launcher.abandon(launch.token)
            yield from self._fail_stopped(launch, cause=message.error)

    def _handle_event(self, launch: Launch, event: DagsterEvent) -> Iterator[DagsterEvent]:
        if event.event_type == DagsterEventType.STEP_START:
            launch.restart_clock()
            self.clock.step_started(launch.token, launch.step.key)
        yield event
        self._active.handle_event(event)
        if event.is_resource_init_failure and event.engine_event_data.error is not None:
            retry_or_failure = self._executor.log_failure_or_retry_event_after_error(
                self._ctx.for_step(launch.step),
                event.engine_event_data.error,
                self._active.get_known_state(),
            )
            if retry_or_failure.is_step_failure:
                self._init_errors[launch.step.key] = event.engine_event_data.error
            yield from self._complete(launch, retry_or_failure)
        elif event.is_step_success or event.is_step_failure or event.is_step_up_for_retry:
            yield from self._after_terminal(launch, event)

    def _fail_lost(self, launch: Launch, message: WorkerMessage) -> Iterator[DagsterEvent]:
        """The worker crashed or raised before the step reported success or failure."""
        key = launch.step.key
        if message.kind is Kind.CRASH and message.error is not None:
            text = f"Adaptive executor: {message.error.message}"
        elif message.kind is Kind.CRASH:
            text = get_run_crash_explanation(
                prefix=f"Adaptive executor: worker process for step {key}",
                exit_code=message.exit_code if message.exit_code is not None else -1,
            )
        else:
            text = f"Adaptive executor: an error escaped the worker of step {key}."
        error = message.error or self.outcomes.error_info(text, "ChildProcessCrashException")
        yield DagsterEvent.engine_event(
            self._ctx.for_step(launch.step), text, EngineEventData.engine_error(error)
        )
        event = self._executor.log_failure_or_retry_event_after_error(
            self._ctx.for_step(launch.step), error, self._active.get_known_state()
        )
        yield from self._complete(launch, event)

    def _finish(self) -> Iterator[DagsterEvent]:
        """The outcome, then the closing line (the executor's last engine event in every case)."""
        if self._interrupted:
            yield self._engine_event(
                "Adaptive executor: stopped all running steps after termination."
            )
            yield self._closing_line()
            raise DagsterExecutionInterruptedError()
        if self.outcomes.stopping:
            summary = self.outcomes.summary(self._plan.step_keys_to_execute)
            yield self._engine_event(f"Adaptive executor: {summary}")
            yield self._closing_line()
            if not self._active.is_complete:
                raise self.outcomes.fail_fast_error(summary)
        else:
            yield self._closing_line()
        if self._init_errors and self._ctx.raise_on_error:
            raise self._init_error()

    def _closing_line(self) -> DagsterEvent:
        """Made last: an engine event is logged when it is made."""
        if self._settings.mode == "dask":
            self.clock.use_stored(stored_step_intervals(self._ctx.instance, self._ctx.run_id))
        line, metadata = self.clock.summary()
        return self._engine_event(f"Adaptive executor: {line}.", metadata=metadata)

    def _init_error(self) -> DagsterSubprocessError:
        """What ``execute_job(raise_on_error=True)`` raises when resources or IO managers failed
        to initialise: the multiprocess executor's error (an in-process run raises the resource's
        own error, before any step)."""
        listed = "\n".join(
            f'Step "{key}": {error.to_string()}' for key, error in self._init_errors.items()
        )
        return DagsterSubprocessError(
            f"During adaptive execution resources failed to initialise:\n{listed}",
            subprocess_error_infos=list(self._init_errors.values()),
        )
