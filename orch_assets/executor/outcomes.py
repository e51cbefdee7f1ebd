"""Bookkeeping of how steps ended, for the failure policy and the fail-fast summary."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from orch_assets.executor._internals import (
    DagsterEvent,
    IStepContext,
    SerializableErrorInfo,
    StepFailureData,
)
from orch_assets.executor.errors import FailFastError
from orch_assets.executor.messages import StopKind


@dataclass
class Outcomes:
    fail_fast: bool
    launched: set[str] = field(default_factory=set)
    failed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    stopping: bool = False

    def record_failure(self, step_key: str, stop_kind: StopKind | None) -> None:
        target = self.cancelled if stop_kind is StopKind.FAIL_FAST else self.failed
        if step_key not in target:
            target.append(step_key)

    def should_trigger_fail_fast(self, stop_kind: StopKind | None) -> bool:
        """A real failure (a timeout counts) with fail_fast on, and not already stopping."""
        return (
            self.fail_fast
            and not self.stopping
            and stop_kind not in (StopKind.FAIL_FAST, StopKind.INTERRUPT)
        )

    def summary(self, planned_step_keys: Sequence[str]) -> str:
        skipped = sorted(set(planned_step_keys) - self.launched)
        return (
            f"fail_fast ended the run. Failed: {sorted(self.failed)}; "
            f"cancelled while running: {sorted(self.cancelled)}; "
            f"skipped (never started): {skipped}."
        )

    @staticmethod
    def fail_fast_error(summary: str) -> FailFastError:
        return FailFastError(summary)

    @staticmethod
    def error_info(message: str, cls_name: str) -> SerializableErrorInfo:
        return SerializableErrorInfo(message=message, stack=[], cls_name=cls_name)

    def stopped_failure_event(
        self,
        step_context: IStepContext,
        message: str,
        cls_name: str,
        cause: SerializableErrorInfo | None = None,
    ) -> DagsterEvent:
        """A STEP_FAILURE made by the scheduler for a step it stopped.

        ``cause`` is what the step's own code reported when the stop reached it, if anything.
        """
        error = SerializableErrorInfo(message=message, stack=[], cls_name=cls_name, cause=cause)
        return DagsterEvent.step_failure_event(
            step_context=step_context,
            step_failure_data=StepFailureData(error=error, user_failure_data=None),
        )


def _without_stacks(error: SerializableErrorInfo) -> SerializableErrorInfo:
    return error._replace(
        stack=[],
        cause=_without_stacks(error.cause) if error.cause else None,
        context=_without_stacks(error.context) if error.context else None,
    )


def run_level_copy(event: DagsterEvent) -> DagsterEvent:
    """What the executor hands to Dagster's run loop for a step failure: the reason without its
    traceback.

    The step's own ``STEP_FAILURE`` is already in the event log with the whole traceback (written
    where the step ran). Dagster copies the first failed step's error from this copy into the
    run's ``RUN_FAILURE``, which would print the same 25-line traceback a second time; without
    the stack the run's failure names the reason in one line. ``execute_job`` results keep the
    message and the cause chain.
    """
    data = event.event_specific_data
    if not event.is_step_failure or not isinstance(data, StepFailureData) or data.error is None:
        return event
    return event._replace(event_specific_data=data._replace(error=_without_stacks(data.error)))
