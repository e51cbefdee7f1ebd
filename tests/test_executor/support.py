"""Helpers that run the test jobs and read what happened from the instance's event log."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dagster import (
    DagsterEventType,
    DagsterInstance,
    EventLogEntry,
    JobDefinition,
    JobExecutionResult,
    execute_job,
    reconstructable,
)


@dataclass(frozen=True)
class Interval:
    start: float
    end: float


def run(
    instance: DagsterInstance,
    target: JobDefinition | Callable[[], JobDefinition],
    executor_config: Mapping[str, Any] | None = None,
    ops: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> JobExecutionResult:
    """Execute a module-level job of ``jobs`` through ``execute_job(reconstructable(...))``."""
    run_config: dict[str, Any] = {"execution": {"config": dict(executor_config or {})}}
    if ops:
        run_config["ops"] = dict(ops)
    return execute_job(reconstructable(target), instance=instance, run_config=run_config, **kwargs)


def entries(instance: DagsterInstance, run_id: str) -> list[EventLogEntry]:
    return [record.event_log_entry for record in instance.get_records_for_run(run_id).records]


def events_of(
    instance: DagsterInstance, run_id: str, kind: DagsterEventType
) -> list[EventLogEntry]:
    return [
        entry
        for entry in entries(instance, run_id)
        if entry.dagster_event is not None and entry.dagster_event.event_type == kind
    ]


def step_intervals(instance: DagsterInstance, run_id: str) -> dict[str, Interval]:
    """From each step's first STEP_START to its last STEP_SUCCESS or STEP_FAILURE."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for entry in entries(instance, run_id):
        event = entry.dagster_event
        if event is None or entry.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts.setdefault(entry.step_key, entry.timestamp)
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            ends[entry.step_key] = entry.timestamp
    return {key: Interval(starts[key], ends[key]) for key in starts if key in ends}


def max_overlap(intervals: Iterable[Interval]) -> int:
    """Most intervals open at one instant (an end at the same instant as a start closes first)."""
    intervals = list(intervals)
    edges = sorted(
        [(i.start, 1) for i in intervals] + [(i.end, -1) for i in intervals],
        key=lambda edge: (edge[0], edge[1]),
    )
    current = best = 0
    for _, delta in edges:
        current += delta
        best = max(best, current)
    return best


def engine_messages(instance: DagsterInstance, run_id: str) -> list[str]:
    return [
        entry.dagster_event.message or ""
        for entry in events_of(instance, run_id, DagsterEventType.ENGINE_EVENT)
        if entry.dagster_event is not None
    ]


def failure_messages(instance: DagsterInstance, run_id: str) -> dict[str, str]:
    """Step key -> error message of its last STEP_FAILURE."""
    found: dict[str, str] = {}
    for entry in events_of(instance, run_id, DagsterEventType.STEP_FAILURE):
        error = entry.dagster_event.step_failure_data.error  # type: ignore[union-attr]
        found[entry.step_key or ""] = error.to_string() if error else ""
    return found


def run_failure_text(instance: DagsterInstance, run_id: str) -> str:
    (entry,) = events_of(instance, run_id, DagsterEventType.RUN_FAILURE)
    assert entry.dagster_event is not None
    data = entry.dagster_event.job_failure_data
    error = data.error.to_string() if data and data.error else ""
    return f"{entry.dagster_event.message}\n{error}"
