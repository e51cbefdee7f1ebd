"""Bookkeeping of launched steps: the current attempt of each step, deadlines and stops.

A launch is identified by a token. ``by_key`` holds the current launch of each running step
(until its terminal event); ``outstanding`` holds every launch whose worker has not said it is
done (hooks run after the terminal event); ``dropped`` holds launches whose messages no longer
count because the scheduler already decided the step's outcome.
"""

import itertools
import time
from dataclasses import dataclass

from orch_assets.executor._internals import ExecutionStep
from orch_assets.executor.messages import StopKind, WorkerMessage

STOP_GRACE_S = 1.0
"""How long a stopped step may take to end before the scheduler fails it without its worker."""
STOP_RETRY_S = 0.05
"""How often a stop is re-attempted while the step's thread is not at an interruptible point."""


@dataclass
class Launch:
    token: int
    step: ExecutionStep
    timeout_s: float | None
    deadline: float | None
    stop_kind: StopKind | None = None
    stop_detail: str = ""
    stopped_at: float = 0.0

    def stop(self, kind: StopKind, detail: str) -> None:
        self.stop_kind, self.stop_detail, self.stopped_at = kind, detail, time.monotonic()

    def restart_clock(self) -> None:
        """The step reported STEP_START: its timeout counts from now."""
        if self.timeout_s is not None:
            self.deadline = time.monotonic() + self.timeout_s

    def overdue(self, now: float) -> bool:
        return self.stop_kind is None and self.deadline is not None and now >= self.deadline

    def in_grace(self, now: float) -> bool:
        return self.stop_kind is not None and now < self.stopped_at + STOP_GRACE_S

    def next_due(self, now: float) -> float | None:
        if self.stop_kind is not None:
            return min(STOP_RETRY_S, self.stopped_at + STOP_GRACE_S - now)
        return None if self.deadline is None else self.deadline - now


class Launches:
    def __init__(self, start_allowance_s: float) -> None:
        self._allowance = start_allowance_s
        self._tokens = itertools.count(1)
        self.by_key: dict[str, Launch] = {}
        self.outstanding: set[int] = set()
        self.dropped: set[int] = set()
        self.peak = 0

    def __len__(self) -> int:
        return len(self.by_key)

    def add(self, step: ExecutionStep, timeout_s: float | None) -> Launch:
        """Register a launch; until the step starts, its deadline allows for worker start-up."""
        deadline = None if timeout_s is None else time.monotonic() + self._allowance + timeout_s
        launch = Launch(next(self._tokens), step, timeout_s, deadline)
        self.by_key[step.key] = launch
        self.outstanding.add(launch.token)
        self.peak = max(self.peak, len(self.by_key))
        return launch

    def current(self, message: WorkerMessage) -> Launch | None:
        """The launch a message belongs to, if it is still the step's current attempt."""
        launch = self.by_key.get(message.step_key)
        return launch if launch is not None and launch.token == message.token else None

    def end(self, launch: Launch) -> None:
        self.by_key.pop(launch.step.key, None)

    def drop(self, launch: Launch, worker_gone: bool = False) -> None:
        self.dropped.add(launch.token)
        if worker_gone:
            self.outstanding.discard(launch.token)

    def due_in(self, now: float) -> list[float]:
        return [due for launch in self.by_key.values() if (due := launch.next_due(now)) is not None]

    @property
    def idle(self) -> bool:
        return not self.by_key and not self.outstanding
