"""mode: dask keeps what the run process enforces: tag limits, instance pools, re-execution."""

from pathlib import Path

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    ReexecutionOptions,
    execute_job,
    instance_for_test,
    reconstructable,
)

from tests.test_executor import jobs
from tests.test_executor.support import (
    engine_messages,
    events_of,
    failure_messages,
    max_overlap,
    run,
    step_intervals,
)
from tests.test_executor.test_dask import dask_jobs
from tests.test_executor.test_dask.test_dask_mode import dask_config


def submitted_at(instance: DagsterInstance, run_id: str) -> dict[str, float]:
    """Step key -> when the run process submitted it to the cluster (STEP_WORKER_STARTING)."""
    starting = events_of(instance, run_id, DagsterEventType.STEP_WORKER_STARTING)
    return {entry.step_key or "": entry.timestamp for entry in starting}


def log_messages(instance: DagsterInstance, run_id: str) -> list[str]:
    return [entry.user_message for entry in instance.all_logs(run_id)]


# One local cluster (a session fixture) for every dask test: they run on one xdist worker.
pytestmark = pytest.mark.xdist_group("dask")


def test_tag_limits_and_instance_pools_keep_their_steps_apart_on_the_cluster(
    dask_address: str,
) -> None:
    with instance_for_test(overrides={"concurrency": {"pools": {"granularity": "op"}}}) as instance:
        instance.event_log_storage.set_concurrency_slots(dask_jobs.LIMIT_POOL, 1)
        limits = [{"key": "database", "value": "duckdb", "limit": 1}]

        result = run(
            instance,
            dask_jobs.limited_naps_job,
            dask_config(dask_address, max_concurrent=4, tag_concurrency_limits=limits),
        )

        assert result.success
        intervals = step_intervals(instance, result.run_id)
        assert len(intervals) == 6
        assert max_overlap(v for k, v in intervals.items() if k.startswith("duck_")) == 1
        assert max_overlap(v for k, v in intervals.items() if k.startswith("pooled_")) == 1
        # Submission times do not depend on how fast the loaded workers start a step.
        submitted = submitted_at(instance, result.run_id)
        assert submitted["duck_1"] >= intervals["duck_0"].end, "held back by the tag limit"
        assert submitted["pooled_1"] >= intervals["pooled_0"].end, "held back by the pool"
        first_end = min(intervals["duck_0"].end, intervals["pooled_0"].end)
        assert max(submitted["free_0"], submitted["free_1"]) < first_end, "others not held"
        assert any(
            f"blocked by limit for pool {dask_jobs.LIMIT_POOL}" in message
            for message in engine_messages(instance, result.run_id)
        )
        pool = instance.event_log_storage.get_concurrency_info(dask_jobs.LIMIT_POOL)
        assert pool.claimed_slots == [], "the run freed its pool slot"


def test_reexecution_from_failure_on_the_cluster_loads_the_upstream_output_and_reruns_the_rest(
    executor_instance: DagsterInstance, work_dir: Path, dask_address: str
) -> None:
    first = run(executor_instance, jobs.reexecution_job, dask_config(dask_address))
    assert not first.success
    (work_dir / "marker").touch()

    with execute_job(
        reconstructable(jobs.reexecution_job),
        instance=executor_instance,
        run_config={"execution": {"config": dask_config(dask_address)}},
        reexecution_options=ReexecutionOptions.from_failure(first.run_id, executor_instance),
    ) as second:
        assert second.success
        assert second.output_for_node("downstream_value") == 42
    started = {
        e.step_key for e in events_of(executor_instance, second.run_id, DagsterEventType.STEP_START)
    }
    assert started == {"fails_until_marker", "downstream_value"}
    (loaded,) = [
        e.dagster_event.event_specific_data
        for e in events_of(executor_instance, second.run_id, DagsterEventType.LOADED_INPUT)
        if e.step_key == "fails_until_marker"
    ]
    assert loaded.upstream_step_key == "upstream_value"  # type: ignore[union-attr]
    assert loaded.upstream_output_name == "result"  # type: ignore[union-attr]


def test_a_pool_slot_a_step_claims_on_a_worker_is_held_on_the_run_instance_and_freed_on_timeout(
    dask_address: str,
) -> None:
    with instance_for_test() as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots(dask_jobs.CLAIM_POOL, 1)

        result = run(
            instance,
            dask_jobs.claim_pool_job,
            dask_config(dask_address, step_timeout_s=1.0),
            ops={"claim_pool_and_hold": {"config": {"hold_s": 30.0}}},
        )

        assert not result.success
        assert "timed out" in failure_messages(instance, result.run_id)["claim_pool_and_hold"]
        held = [m for m in log_messages(instance, result.run_id) if m.startswith("claimed")]
        assert held == [f"claimed True; holders [('{result.run_id}', 'claim_pool_and_hold')]"]
        assert storage.get_concurrency_info(dask_jobs.CLAIM_POOL).claimed_slots == []
