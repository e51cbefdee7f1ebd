"""What step workers (threads or processes) report to the scheduler, and the launcher contract.

Every message carries the ``token`` of one launch of one step, so a completion still queued from
an earlier attempt can never be mistaken for the current attempt of a retried step.
"""

import enum
import queue
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from orch_assets.executor._internals import (
    DagsterEvent,
    ExecutionStep,
    KnownExecutionState,
    SerializableErrorInfo,
)

T = TypeVar("T")


class Kind(enum.Enum):
    EVENT = "event"  # a Dagster event the step produced (already written to the event log)
    ERROR = "error"  # an exception escaped the step machinery
    DONE = "done"  # the worker finished with this launch
    CRASH = "crash"  # the worker process died


class StopKind(enum.Enum):
    TIMEOUT = "timeout"
    FAIL_FAST = "fail_fast"
    INTERRUPT = "interrupt"


@dataclass(frozen=True)
class WorkerMessage:
    token: int
    step_key: str
    kind: Kind
    event: DagsterEvent | None = None
    error: SerializableErrorInfo | None = None
    exit_code: int | None = None


def drain(inbox: "queue.Queue[T]", timeout: float) -> list[T]:
    """Wait up to ``timeout`` for a first message, then take whatever else is queued."""
    try:
        messages = [inbox.get(timeout=max(0.0, timeout))] if timeout > 0 else [inbox.get_nowait()]
    except queue.Empty:
        return []
    while True:
        try:
            messages.append(inbox.get_nowait())
        except queue.Empty:
            return messages


class StepLauncher(Protocol):
    """How one execution mode starts, stops and hears from steps."""

    def launch(
        self, step: ExecutionStep, token: int, known_state: KnownExecutionState, live_cap: int
    ) -> Sequence[DagsterEvent]:
        """Start the step; return events to yield now (e.g. a worker-starting event)."""
        ...

    def stop(self, token: int, kind: StopKind, detail: str) -> None:
        """Stop a running launch as well as the mode allows; called again each tick until done."""
        ...

    def abandon(self, token: int) -> bool:
        """Give up on a launch that did not stop; return True if anything keeps running."""
        ...

    def poll(self, timeout: float) -> list[WorkerMessage]: ...

    def fit_to_cap(self, cap: int) -> None:
        """Release idle resources beyond the live cap (process mode: idle workers)."""
        ...

    def close(self) -> None: ...
