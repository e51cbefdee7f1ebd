"""mode: dask on a real local cluster: placement, caps, class limits, failures, the memory cap."""

from pathlib import Path

import psutil
import pytest
from dagster import DagsterEventType, DagsterInstance

from tests.test_executor import jobs
from tests.test_executor.support import (
    engine_messages,
    events_of,
    failure_messages,
    max_overlap,
    run,
    run_failure_text,
    step_intervals,
)
from tests.test_executor.test_dask import dask_jobs
from tests.test_executor.test_dask.conftest import DaskTestCluster

# One local cluster (a session fixture) for every dask test: they run on one xdist worker.
pytestmark = pytest.mark.xdist_group("dask")


def dask_config(address: str, **extra: object) -> dict[str, object]:
    return {"mode": "dask", "dask": {"address": address}, **extra}


def workers_of_steps(instance: DagsterInstance, run_id: str) -> dict[str, str]:
    """Step key -> address of the Dask worker that ran it (from STEP_WORKER_STARTED)."""
    found: dict[str, str] = {}
    for entry in events_of(instance, run_id, DagsterEventType.STEP_WORKER_STARTED):
        metadata = entry.dagster_event.engine_event_data.metadata  # type: ignore[union-attr]
        found[entry.step_key or ""] = str(metadata["dask_worker"].value)
    return found


def test_a_wide_job_runs_on_both_workers_and_never_exceeds_the_cap(
    executor_instance: DagsterInstance, dask_address: str
) -> None:
    result = run(
        executor_instance, jobs.wide_sleep_job, dask_config(dask_address, max_concurrent=3)
    )

    assert result.success
    placed = workers_of_steps(executor_instance, result.run_id)
    assert len(placed) == 8
    # Addresses as the steps saw them (a worker its nanny restarted would have a new one).
    assert len(set(placed.values())) == 2, placed
    overlap = max_overlap(step_intervals(executor_instance, result.run_id).values())
    assert 2 <= overlap <= 3, overlap


def test_execution_class_limits_hold_on_the_cluster(
    executor_instance: DagsterInstance, dask_address: str
) -> None:
    result = run(
        executor_instance,
        jobs.execution_class_job,
        dask_config(dask_address, max_concurrent=4, class_limits={"conditional": 2}),
    )

    assert result.success
    intervals = step_intervals(executor_instance, result.run_id)
    assert max_overlap(v for k, v in intervals.items() if k.startswith("sequential_")) == 1
    assert max_overlap(v for k, v in intervals.items() if k.startswith("conditional_")) <= 2
    assert max_overlap(intervals.values()) <= 4


def test_a_retried_step_on_the_cluster_succeeds_and_its_output_reaches_the_next_step(
    executor_instance: DagsterInstance, work_dir: Path, dask_address: str
) -> None:
    with run(executor_instance, jobs.retry_job, dask_config(dask_address)) as result:
        assert result.success
        assert result.output_for_node("after_flaky") == 3, "outputs pass through shared storage"
    assert len(events_of(executor_instance, result.run_id, DagsterEventType.STEP_UP_FOR_RETRY)) == 2
    assert (work_dir / "attempts").read_text() == "3"


def test_fail_fast_on_the_cluster_stops_running_steps_and_starts_no_more(
    executor_instance: DagsterInstance, dask_address: str
) -> None:
    result = run(
        executor_instance,
        jobs.fail_fast_job,
        dask_config(dask_address, max_concurrent=2, fail_fast=True),
    )

    assert not result.success
    failures = failure_messages(executor_instance, result.run_id)
    assert "boom went the step" in failures["boom"]
    assert 'step "boom" failed and fail_fast is on' in failures["slow_independent"]
    summary = run_failure_text(executor_instance, result.run_id)
    assert "skipped (never started): ['after_boom', 'queued_0', 'queued_1', 'queued_2']" in summary
    # From boom's failure, not the slow step's STEP_START: a step stopped while its process still
    # starts on a loaded worker has no STEP_START (entries of a stopped launch are dropped).
    failed_at = {
        e.step_key: e.timestamp
        for e in events_of(executor_instance, result.run_id, DagsterEventType.STEP_FAILURE)
    }
    assert failed_at["slow_independent"] - failed_at["boom"] < 4.0, "stopped, not waited for"


def test_a_step_over_its_timeout_on_a_worker_is_killed_and_fails_saying_so(
    executor_instance: DagsterInstance, work_dir: Path, dask_address: str
) -> None:
    result = run(
        executor_instance,
        jobs.timeout_job,
        dask_config(dask_address, step_timeout_s=1.5),
        ops={"hang": {"config": {"how": "subprocess", "seconds": 30.0}}},
    )

    assert not result.success
    hang = step_intervals(executor_instance, result.run_id)["hang"]
    assert 1.5 <= hang.end - hang.start <= 1.5 + 3.0
    assert (
        "timed out: it ran longer than its timeout of 1.5 s"
        in failure_messages(executor_instance, result.run_id)["hang"]
    )
    child = int((work_dir / "child.pid").read_text())
    if psutil.pid_exists(child):
        _, alive = psutil.wait_procs([psutil.Process(child)], timeout=5)
        assert not alive, "the step's subprocess on the worker was killed"


def test_a_sigkilled_worker_fails_its_step_naming_the_worker_and_the_run_ends(
    executor_instance: DagsterInstance, dask_address: str
) -> None:
    result = run(executor_instance, dask_jobs.worker_kill_job, dask_config(dask_address))

    assert not result.success
    (worker,) = workers_of_steps(executor_instance, result.run_id).values()
    message = failure_messages(executor_instance, result.run_id)["kill_own_dask_worker"]
    assert f"Dask worker {worker} left the cluster while running it" in message
    assert "Steps failed: ['kill_own_dask_worker']" in run_failure_text(
        executor_instance, result.run_id
    )


def test_workers_above_the_memory_pause_threshold_hold_launches_to_one_and_say_so(
    executor_instance: DagsterInstance, dask_cluster: DaskTestCluster, dask_address: str
) -> None:
    # Every worker process holds far more than 1% of its 2 GB limit, so all are "full".
    result = run(
        executor_instance,
        dask_jobs.three_naps_job,
        dask_config(
            dask_address, max_concurrent=4, memory_pause_percent=1.0, memory_resume_percent=0.5
        ),
    )

    assert result.success
    assert max_overlap(step_intervals(executor_instance, result.run_id).values()) == 1
    (notice,) = [
        m for m in engine_messages(executor_instance, result.run_id) if "cluster live cap" in m
    ]
    assert "cluster live cap 4 -> 1 (all 2 workers at or above memory_pause_percent 1%" in notice
    for address in dask_cluster.worker_addresses():
        assert f"{address} memory" in notice


def test_memory_per_step_is_a_worker_resource_and_too_large_a_budget_fails_at_launch(
    executor_instance: DagsterInstance, dask_address: str
) -> None:
    fits = run(
        executor_instance,
        dask_jobs.three_naps_job,
        dask_config(dask_address, memory_per_step_gb=1.0),
    )
    too_big = run(
        executor_instance,
        dask_jobs.three_naps_job,
        dask_config(dask_address, memory_per_step_gb=3.0),
    )

    assert fits.success
    # One 1 GiB step fits in a worker's 1.86 GiB: at most one step per worker at a time.
    assert max_overlap(step_intervals(executor_instance, fits.run_id).values()) <= 2
    assert not too_big.success
    assert "'memory_per_step_gb': 3 GiB per step, but no worker" in run_failure_text(
        executor_instance, too_big.run_id
    )


def test_an_unreachable_scheduler_fails_the_run_naming_the_address_field(
    executor_instance: DagsterInstance,
) -> None:
    result = run(
        executor_instance,
        jobs.wide_sleep_job,
        {"mode": "dask", "dask": {"address": "tcp://127.0.0.1:9", "connect_timeout_s": 1.0}},
    )

    assert not result.success
    text = run_failure_text(executor_instance, result.run_id)
    assert (
        "'dask.address': could not reach the Dask scheduler at tcp://127.0.0.1:9 within 1 s" in text
    )
    assert not events_of(executor_instance, result.run_id, DagsterEventType.STEP_START)


def test_each_steps_stdout_on_a_worker_is_captured_under_its_own_log_key_for_the_ui(
    executor_instance: DagsterInstance, dask_address: str
) -> None:
    result = run(executor_instance, jobs.chatty_job, dask_config(dask_address, max_concurrent=3))

    assert result.success
    manager = executor_instance.compute_log_manager
    stdout_of: dict[str, str] = {}
    for entry in events_of(executor_instance, result.run_id, DagsterEventType.LOGS_CAPTURED):
        data = entry.dagster_event.logs_captured_data  # type: ignore[union-attr]
        (step_key,) = data.step_keys
        log_key = manager.build_log_key_for_run(result.run_id, data.file_key)
        stdout_of[step_key] = manager.get_log_data(log_key).stdout.decode()  # type: ignore[union-attr]
    assert set(stdout_of) == {"chatty_a", "chatty_b", "chatty_c"}
    for name, stdout in stdout_of.items():
        assert [line for line in stdout.splitlines() if "stdout from" in line] == [
            f"stdout from {name} #{i}" for i in range(5)
        ]
