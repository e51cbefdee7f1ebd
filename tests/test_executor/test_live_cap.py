"""The live cap follows psutil readings: memory pressure, per-step budgets, CPU saturation."""

import psutil
import pytest
from dagster import DagsterInstance

from orch_assets.executor.capacity import GIB, CapPolicy, CapState, Reading, decide_cap
from tests.test_executor import jobs
from tests.test_executor.support import engine_messages, max_overlap, run, step_intervals

ALLOCATION_GB = 2.0


def cap_changes(instance: DagsterInstance, run_id: str) -> list[str]:
    return [
        m for m in engine_messages(instance, run_id) if m.startswith("Adaptive executor: live cap")
    ]


def test_a_memory_threshold_below_the_live_reading_runs_one_step_at_a_time(
    executor_instance: DagsterInstance,
) -> None:
    used = psutil.virtual_memory().percent
    pause = max(1.0, used - 5)
    result = run(
        executor_instance,
        jobs.wide_sleep_job,
        {
            "max_concurrent": 4,
            "memory_pause_percent": pause,
            "memory_resume_percent": max(0.0, pause - 20),
            "sample_interval_s": 0.1,
        },
    )

    assert result.success
    assert max_overlap(step_intervals(executor_instance, result.run_id).values()) == 1
    (change,) = cap_changes(executor_instance, result.run_id)
    assert change.startswith("Adaptive executor: live cap 4 -> 1 (memory ")
    assert f"paused at {pause:.1f}%" in change
    assert "GiB available" in change


def test_a_step_that_allocates_memory_lowers_the_cap_for_later_steps(
    executor_instance: DagsterInstance,
) -> None:
    memory = psutil.virtual_memory()
    if memory.available < 3 * ALLOCATION_GB * GIB:
        pytest.skip("not enough free memory on this machine to allocate safely")
    allocation_percent = 100 * ALLOCATION_GB * GIB / memory.total
    pause = memory.percent + allocation_percent / 2
    try:
        result = run(
            executor_instance,
            jobs.memory_growth_job,
            {
                "max_concurrent": 4,
                "memory_pause_percent": pause,
                "memory_resume_percent": pause - allocation_percent / 4,
                "sample_interval_s": 0.1,
            },
            ops={"allocate": {"config": {"gigabytes": ALLOCATION_GB, "hold_s": 0.5}}},
        )
    finally:
        jobs.release_held_memory()

    assert result.success
    intervals = step_intervals(executor_instance, result.run_id)
    assert max_overlap(v for k, v in intervals.items() if k.startswith("before_")) == 4
    assert max_overlap(v for k, v in intervals.items() if k.startswith("after_")) == 1
    changes = cap_changes(executor_instance, result.run_id)
    assert changes and changes[0].startswith("Adaptive executor: live cap 4 -> 1 (memory ")


def test_failing_psutil_readings_fall_back_to_the_static_cap_and_say_so_once(
    executor_instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise OSError("no /proc here")

    monkeypatch.setattr("orch_assets.executor.capacity.psutil.virtual_memory", broken)
    result = run(
        executor_instance,
        jobs.wide_sleep_job,
        {
            "max_concurrent": 3,
            "memory_pause_percent": 1,
            "memory_resume_percent": 0,
            "sample_interval_s": 0.05,
        },
    )

    assert result.success
    fallbacks = [
        m
        for m in engine_messages(executor_instance, result.run_id)
        if "psutil readings failed" in m
    ]
    assert fallbacks == [
        "Adaptive executor: psutil readings failed (OSError: no /proc here); "
        "using the static cap 3 for the rest of the run."
    ]
    assert max_overlap(step_intervals(executor_instance, result.run_id).values()) == 3


POLICY = CapPolicy(
    max_concurrent=8,
    memory_pause_percent=80,
    memory_resume_percent=70,
    memory_per_step_gb=None,
    cpu_saturation_percent=None,
    cpu_count=2,
)


def reading(
    memory: float = 50, available_gb: float = 8, cpu: float = 10, rss_gb: float = 0.5
) -> Reading:
    return Reading(memory, int(available_gb * GIB), cpu, int(rss_gb * GIB), 0.0, 0.0)


@pytest.mark.parametrize(
    ("policy", "readings", "expected_caps"),
    [
        (POLICY, [reading(50)], [8]),
        (POLICY, [reading(85), reading(75), reading(69)], [1, 1, 8]),
        (POLICY, [reading(75), reading(79.9)], [8, 8]),
        (
            CapPolicy(8, 80, 70, 2.0, None, 2),
            [
                reading(available_gb=7, rss_gb=1),
                reading(available_gb=5, rss_gb=3),
                reading(available_gb=1),
            ],
            [3, 3, 1],
        ),
        (
            CapPolicy(8, 80, 70, None, 90, 2),
            [reading(cpu=95), reading(cpu=85), reading(cpu=79)],
            [2, 2, 8],
        ),
        (CapPolicy(1, 80, 70, 50.0, 90, 2), [reading(memory=99, available_gb=0.1, cpu=100)], [1]),
    ],
    ids=[
        "no-pressure-keeps-max",
        "memory-pauses-and-resumes-only-below-resume",
        "between-thresholds-without-pause-stays-up",
        "per-step-budget-counts-the-run-growth-once",
        "cpu-saturation-limits-to-cpus-with-hysteresis",
        "never-below-one",
    ],
)
def test_the_cap_policy(
    policy: CapPolicy, readings: list[Reading], expected_caps: list[int]
) -> None:
    state = CapState()
    caps = []
    for sample in readings:
        decision = decide_cap(policy, sample, state)
        state = decision.state
        caps.append(decision.cap)
    assert caps == expected_caps
