"""Thread mode writes concurrent steps' events in groups: same events, same order per step."""

from collections import defaultdict

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance

from orch_assets.executor.event_writes import SWITCH_ENV
from tests.test_executor import event_jobs
from tests.test_executor.support import entries, run

OVERHEAD_SLACK_S = 4.0
"""A regression guard, not the measurement (``benchmarks/executor_overhead.py`` is): 16 x 1 s
sleeps at cap 16 took 2.0 s (median) at a load average of 12 on 2 cores, of which 0.55 s was
Dagster storing RUN_START; one after the other they would take 16 s."""


RUN_LEVEL_IN_PROCESS = frozenset(
    {
        DagsterEventType.ENGINE_EVENT,
        DagsterEventType.RESOURCE_INIT_STARTED,
        DagsterEventType.RESOURCE_INIT_SUCCESS,
    }
)
"""Left out of the comparison: engine events are each executor's own, and thread mode builds
resources in the first step that needs them (``run_resources``) where in_process builds them
before the first step."""


def per_step_stream(instance: DagsterInstance, run_id: str) -> dict[str, list[str]]:
    """Each step's events, in storage order: Dagster event types, or ``log`` for messages."""
    streams: dict[str, list[str]] = defaultdict(list)
    for entry in entries(instance, run_id):
        if entry.step_key is None:
            continue
        event = entry.dagster_event
        message = entry.user_message.replace(run_id, "<run>")
        kind = event.event_type_value if event is not None else f"log: {message}"
        if event is not None and event.event_type in RUN_LEVEL_IN_PROCESS:
            continue
        streams[entry.step_key].append(kind)
    return dict(streams)


def test_each_step_stores_the_same_events_in_the_same_order_as_the_in_process_executor(
    executor_instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SWITCH_ENV, "1")
    stock = run(executor_instance, event_jobs.produce_in_process)
    adaptive = run(
        executor_instance, event_jobs.produce_adaptive, {"mode": "thread", "max_concurrent": 6}
    )
    assert stock.success and adaptive.success
    expected = per_step_stream(executor_instance, stock.run_id)
    assert per_step_stream(executor_instance, adaptive.run_id) == expected
    assert "ASSET_MATERIALIZATION" in expected["produce_0"]
    assert "LOADED_INPUT" in expected["total"]
    materialized = executor_instance.get_latest_materialization_event(AssetKey("produce_5"))
    assert materialized is not None and materialized.run_id == adaptive.run_id


def test_sixteen_one_second_steps_at_cap_16_end_soon_after_one_second(
    executor_instance: DagsterInstance,
) -> None:
    result = run(
        executor_instance,
        event_jobs.sixteen_sleeps_adaptive,
        {"mode": "thread", "max_concurrent": 16},
    )
    stamps = {
        entry.dagster_event_type: entry.timestamp
        for entry in entries(executor_instance, result.run_id)
        if entry.dagster_event_type in (DagsterEventType.RUN_START, DagsterEventType.RUN_SUCCESS)
    }
    wall = stamps[DagsterEventType.RUN_SUCCESS] - stamps[DagsterEventType.RUN_START]
    assert wall < 1.0 + OVERHEAD_SLACK_S, f"run took {wall:.2f} s"
