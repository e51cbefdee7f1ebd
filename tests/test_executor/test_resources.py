"""Resource initialisation: shared per run in thread mode, retried like the stock executor."""

from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance

from tests.test_executor import parity_jobs
from tests.test_executor.parity_jobs import count
from tests.test_executor.support import events_of, run

MODES = ["thread", "sequential", "process"]


@pytest.mark.parametrize("mode", MODES)
def test_a_resource_whose_first_initialisation_fails_is_retried_by_the_step_retry_policy(
    executor_instance: DagsterInstance, work_dir: Path, mode: str
) -> None:
    """Regression: thread mode built resources before any step, so this failed the whole run."""
    result = run(executor_instance, parity_jobs.resource_fails_once_job, {"mode": mode})

    assert result.success
    retries = events_of(executor_instance, result.run_id, DagsterEventType.STEP_UP_FOR_RETRY)
    assert [entry.step_key for entry in retries] == ["uses_db"]
    failures = events_of(executor_instance, result.run_id, DagsterEventType.RESOURCE_INIT_FAILURE)
    assert [entry.step_key for entry in failures] == ["uses_db"]
    assert count("inits") == 2
    assert count("teardowns") == 1


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_broken_resource_fails_only_the_steps_that_need_it(
    executor_instance: DagsterInstance, work_dir: Path, mode: str
) -> None:
    result = run(executor_instance, parity_jobs.broken_resource_job, {"mode": mode})

    assert not result.success
    succeeded = events_of(executor_instance, result.run_id, DagsterEventType.STEP_SUCCESS)
    failed = events_of(executor_instance, result.run_id, DagsterEventType.STEP_FAILURE)
    assert [entry.step_key for entry in succeeded] == ["needs_nothing"]
    assert [entry.step_key for entry in failed] == ["uses_db_without_policy"]
    assert "database is down" in str(failed[0].dagster_event.step_failure_data.error)  # type: ignore[union-attr]
    assert count("inits") == 1


def test_thread_mode_builds_a_resource_once_per_run_and_tears_it_down_once_at_the_end(
    executor_instance: DagsterInstance, work_dir: Path
) -> None:
    result = run(executor_instance, parity_jobs.shared_resource_job, {"mode": "thread"})

    assert result.success
    assert (count("inits"), count("teardowns")) == (1, 1)
    started = {
        (entry.step_key or "").split("[")[0]: entry.dagster_event.message  # type: ignore[union-attr]
        for entry in events_of(
            executor_instance, result.run_id, DagsterEventType.RESOURCE_INIT_STARTED
        )
    }
    assert started == {
        "fan_out": "Starting initialization of resources [io_manager].",
        "read_db": "Starting initialization of resources [db].",
    }


def test_process_mode_builds_resources_in_every_step_like_the_multiprocess_executor(
    executor_instance: DagsterInstance, work_dir: Path
) -> None:
    result = run(
        executor_instance, parity_jobs.shared_resource_job, {"mode": "process", "max_concurrent": 1}
    )

    assert result.success
    assert (count("inits"), count("teardowns")) == (4, 4)
