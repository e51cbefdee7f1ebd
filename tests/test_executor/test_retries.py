"""Retries (RetryPolicy) and re-execution from failure work as with the stock executors."""

from pathlib import Path

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    ReexecutionOptions,
    execute_job,
    reconstructable,
)

from tests.test_executor import jobs
from tests.test_executor.support import events_of, run


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_step_with_a_retry_policy_is_retried_until_it_succeeds(
    executor_instance: DagsterInstance, work_dir: Path, mode: str
) -> None:
    with run(executor_instance, jobs.retry_job, {"mode": mode}) as result:
        assert result.success
        assert result.output_for_node("after_flaky") == 3
    assert len(events_of(executor_instance, result.run_id, DagsterEventType.STEP_UP_FOR_RETRY)) == 2
    assert len(events_of(executor_instance, result.run_id, DagsterEventType.STEP_RESTARTED)) == 2
    assert (work_dir / "attempts").read_text() == "3"


def test_a_retry_starting_while_the_previous_attempt_still_finishes_is_not_confused_with_it(
    executor_instance: DagsterInstance, work_dir: Path
) -> None:
    """Regression: completions must be keyed by attempt, not by step key (FINDINGS trap 3)."""
    result = run(
        executor_instance,
        jobs.retry_with_slow_hook_job,
        ops={"flaky": {"config": {"success_delay_s": 1.0}}},
    )

    assert result.success
    assert len(events_of(executor_instance, result.run_id, DagsterEventType.STEP_UP_FOR_RETRY)) == 2
    assert (work_dir / "attempts").read_text() == "3"


def test_retries_disabled_in_config_fail_the_step_at_the_first_error(
    executor_instance: DagsterInstance, work_dir: Path
) -> None:
    result = run(executor_instance, jobs.retry_job, {"retries": {"disabled": {}}})

    assert not result.success
    assert not events_of(executor_instance, result.run_id, DagsterEventType.STEP_UP_FOR_RETRY)
    assert (work_dir / "attempts").read_text() == "1"


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_reexecution_from_failure_runs_only_the_failed_step_and_what_follows(
    executor_instance: DagsterInstance, work_dir: Path, mode: str
) -> None:
    run_config = {"execution": {"config": {"mode": mode}}}
    first = run(executor_instance, jobs.reexecution_job, {"mode": mode})
    assert not first.success
    (work_dir / "marker").touch()

    with execute_job(
        reconstructable(jobs.reexecution_job),
        instance=executor_instance,
        run_config=run_config,
        reexecution_options=ReexecutionOptions.from_failure(first.run_id, executor_instance),
    ) as second:
        assert second.success
        assert second.output_for_node("downstream_value") == 42
    started = {
        e.step_key for e in events_of(executor_instance, second.run_id, DagsterEventType.STEP_START)
    }
    assert started == {"fails_until_marker", "downstream_value"}
