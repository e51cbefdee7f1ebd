"""Failure policy: continue or fail fast, and clean run failures that name the step."""

import pytest
from dagster import DagsterEventType, DagsterInstance

from tests.test_executor import jobs
from tests.test_executor.support import (
    engine_messages,
    events_of,
    failure_messages,
    run,
    run_failure_text,
    step_intervals,
)


def started_steps(instance: DagsterInstance, run_id: str) -> set[str]:
    return {
        entry.step_key or "" for entry in events_of(instance, run_id, DagsterEventType.STEP_START)
    }


def test_without_fail_fast_independent_steps_finish_and_dependents_are_skipped(
    executor_instance: DagsterInstance,
) -> None:
    result = run(executor_instance, jobs.fail_fast_job, {"max_concurrent": 2, "fail_fast": False})

    assert not result.success
    intervals = step_intervals(executor_instance, result.run_id)
    assert {"slow_independent", "queued_0", "queued_1", "queued_2"} <= set(intervals)
    assert "after_boom" not in started_steps(executor_instance, result.run_id)
    assert set(failure_messages(executor_instance, result.run_id)) == {"boom"}
    assert "Steps failed: ['boom']" in run_failure_text(executor_instance, result.run_id)


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_fail_fast_stops_running_steps_starts_no_more_and_names_them_all(
    executor_instance: DagsterInstance, mode: str
) -> None:
    result = run(
        executor_instance,
        jobs.fail_fast_job,
        {"mode": mode, "max_concurrent": 2, "fail_fast": True},
    )

    assert not result.success
    failures = failure_messages(executor_instance, result.run_id)
    assert "boom went the step" in failures["boom"]
    assert 'step "boom" failed and fail_fast is on' in failures["slow_independent"]
    assert not {"queued_0", "queued_1", "queued_2", "after_boom"} & started_steps(
        executor_instance, result.run_id
    )
    summary = run_failure_text(executor_instance, result.run_id)
    assert "fail_fast ended the run" in summary
    assert "Failed: ['boom']" in summary
    assert "cancelled while running: ['slow_independent']" in summary
    assert "skipped (never started): ['after_boom', 'queued_0', 'queued_1', 'queued_2']" in summary
    # From boom's failure, not the slow step's STEP_START: in process mode a step stopped while
    # its process still starts on a loaded machine has no STEP_START.
    failed_at = {
        e.step_key: e.timestamp
        for e in events_of(executor_instance, result.run_id, DagsterEventType.STEP_FAILURE)
    }
    assert failed_at["slow_independent"] - failed_at["boom"] < 4.0, "the 6 s step was stopped"


def test_a_raising_step_in_process_mode_fails_the_run_naming_the_step(
    executor_instance: DagsterInstance,
) -> None:
    result = run(executor_instance, jobs.raise_job, {"mode": "process"})

    assert not result.success
    assert (
        "ValueError: boom went the step"
        in failure_messages(executor_instance, result.run_id)["boom"]
    )
    assert "Steps failed: ['boom']" in run_failure_text(executor_instance, result.run_id)
    assert "after_boom" not in started_steps(executor_instance, result.run_id)


def test_a_child_killed_with_sigkill_fails_the_run_cleanly_naming_the_step(
    executor_instance: DagsterInstance,
) -> None:
    result = run(executor_instance, jobs.crash_job, {"mode": "process"})

    assert not result.success
    assert any(
        "worker process for step kill_own_process was terminated by signal 9 (SIGKILL)" in message
        for message in engine_messages(executor_instance, result.run_id)
    )
    assert "kill_own_process" in failure_messages(executor_instance, result.run_id)
    assert "Steps failed: ['kill_own_process']" in run_failure_text(
        executor_instance, result.run_id
    )
    assert "after_boom" not in started_steps(executor_instance, result.run_id)
