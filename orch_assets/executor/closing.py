"""The run's closing line: how much faster than one step at a time the steps ran.

Parallel runners end with such a line (GNU parallel's ``--eta``, Bazel's critical-path summary):
the steps' own time added up against the wall time they took together. A step's time counts
from its ``STEP_START`` to its terminal event, as the scheduler saw them; worker start-up and
waiting for a slot are not step time. In Dask mode a step's events reach the run process in
batches, so the times are those the event log stored (each event stamped where it happened).
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from dagster import DagsterEventType, DagsterInstance

TERMINAL_EVENTS = {
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_UP_FOR_RETRY,
}


def stored_step_intervals(instance: DagsterInstance, run_id: str) -> list[tuple[float, float]]:
    """(start, end) epoch seconds of every step attempt of the run, from its stored events."""
    records = instance.get_records_for_run(
        run_id, of_type={DagsterEventType.STEP_START, *TERMINAL_EVENTS}, limit=100_000
    ).records
    started: dict[str, float] = {}
    intervals: list[tuple[float, float]] = []
    for record in records:
        entry = record.event_log_entry
        key = entry.step_key or ""
        if entry.dagster_event_type == DagsterEventType.STEP_START:
            started[key] = entry.timestamp
        elif key in started:
            intervals.append((started.pop(key), entry.timestamp))
    return intervals


def _peak(intervals: Iterable[tuple[float, float]]) -> int:
    edges = sorted(e for start, end in intervals for e in ((start, 1), (end, -1)))
    running = peak = 0
    for _, delta in edges:
        running += delta
        peak = max(peak, running)
    return peak


@dataclass
class StepClock:
    """Step times of one run, keyed by launch token (a retry is a new launch)."""

    started_at: float = field(default_factory=time.monotonic)
    started_at_epoch: float = field(default_factory=time.time)
    step_seconds: float = 0.0
    steps: set[str] = field(default_factory=set)
    peak_concurrency: int = 0
    last_ended_at: float | None = None
    _running: dict[int, float] = field(default_factory=dict)

    def step_started(self, token: int, step_key: str) -> None:
        self._running[token] = time.monotonic()
        self.steps.add(step_key)
        self.peak_concurrency = max(self.peak_concurrency, len(self._running))

    def step_ended(self, token: int) -> None:
        started = self._running.pop(token, None)
        if started is not None:
            self.last_ended_at = time.monotonic()
            self.step_seconds += self.last_ended_at - started

    def use_stored(self, intervals: list[tuple[float, float]]) -> None:
        """Take the step times from the event log (Dask mode) instead of those seen here."""
        if not intervals:
            return
        self.step_seconds = sum(end - start for start, end in intervals)
        self.peak_concurrency = _peak(intervals)
        last_end = max(end for _, end in intervals)
        self.last_ended_at = self.started_at + (last_end - self.started_at_epoch)

    def summary(self) -> tuple[str, dict[str, float | int]]:
        """The closing line and the same figures as engine-event metadata.

        The wall time runs from the executor's start to the last step's end (worker shutdown
        after it is not counted). Efficiency is the speed-up over the most steps that ran at
        once: 100 % when every step slot the run used was busy from its first step to its last.
        """
        wall = (self.last_ended_at or time.monotonic()) - self.started_at
        speedup = self.step_seconds / wall if wall > 0 else 0.0
        efficiency = 100 * speedup / self.peak_concurrency if self.peak_concurrency else 0.0
        line = (
            f"{len(self.steps)} step{'' if len(self.steps) == 1 else 's'} in {wall:.1f} s; "
            f"Σ step time {self.step_seconds:.1f} s; "
            f"{speedup:.1f}× faster than one at a time; efficiency {efficiency:.0f} %"
        )
        metadata: dict[str, float | int] = {
            "steps": len(self.steps),
            "wall_s": round(wall, 3),
            "step_seconds": round(self.step_seconds, 3),
            "speedup": round(speedup, 3),
            "efficiency_percent": round(efficiency, 1),
            "peak_concurrency": self.peak_concurrency,
        }
        return line, metadata
