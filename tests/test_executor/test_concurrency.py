"""Steps run concurrently, but never more than the cap, class limits, tag limits or pools allow."""

import pytest
from dagster import DagsterInstance, instance_for_test

from tests.test_executor import jobs
from tests.test_executor.support import engine_messages, max_overlap, run, step_intervals


@pytest.mark.parametrize(
    ("mode", "cap"),
    [("thread", 3), ("thread", 8), ("process", 2)],
    ids=["three-threads", "eight-threads", "two-processes"],
)
def test_concurrency_reaches_but_never_exceeds_the_cap(
    executor_instance: DagsterInstance, mode: str, cap: int
) -> None:
    result = run(executor_instance, jobs.wide_sleep_job, {"mode": mode, "max_concurrent": cap})

    assert result.success
    intervals = step_intervals(executor_instance, result.run_id)
    assert len(intervals) == 8
    assert max_overlap(intervals.values()) == cap


def test_sequential_mode_runs_one_step_at_a_time_whatever_max_concurrent_says(
    executor_instance: DagsterInstance,
) -> None:
    result = run(
        executor_instance, jobs.wide_sleep_job, {"mode": "sequential", "max_concurrent": 8}
    )

    assert result.success
    assert max_overlap(step_intervals(executor_instance, result.run_id).values()) == 1
    assert executor_instance.get_run_by_id(result.run_id).tags["orch/max_concurrent"] == "1"  # type: ignore[union-attr]


def test_execution_class_op_tags_limit_each_class_separately(
    executor_instance: DagsterInstance,
) -> None:
    result = run(
        executor_instance,
        jobs.execution_class_job,
        {"max_concurrent": 9, "class_limits": {"sequential": 1, "conditional": 2}},
    )

    assert result.success
    intervals = step_intervals(executor_instance, result.run_id)

    def overlap_of(prefix: str) -> int:
        return max_overlap(v for k, v in intervals.items() if k.startswith(prefix))

    assert overlap_of("sequential_") == 1
    assert overlap_of("conditional_") == 2
    assert overlap_of("parallel_safe_") == 3
    assert max_overlap(intervals.values()) >= 5


def test_execution_class_asset_tags_limit_asset_steps(executor_instance: DagsterInstance) -> None:
    result = run(executor_instance, jobs.asset_class_job, {"max_concurrent": 6})

    assert result.success
    intervals = step_intervals(executor_instance, result.run_id)
    assert max_overlap(v for k, v in intervals.items() if k.startswith("seq_asset_")) == 1
    assert max_overlap(v for k, v in intervals.items() if k.startswith("free_asset_")) == 3


def test_tag_concurrency_limits_apply_as_in_the_stock_executors(
    executor_instance: DagsterInstance,
) -> None:
    result = run(
        executor_instance,
        jobs.tag_limit_job,
        {
            "max_concurrent": 6,
            "tag_concurrency_limits": [{"key": "database", "value": "duckdb", "limit": 1}],
        },
    )

    assert result.success
    intervals = step_intervals(executor_instance, result.run_id)
    assert max_overlap(v for k, v in intervals.items() if k.startswith("duck_")) == 1
    assert max_overlap(v for k, v in intervals.items() if k.startswith("other_")) == 3


def test_a_step_waiting_for_a_pool_slot_does_not_block_other_ready_steps() -> None:
    with instance_for_test(overrides={"concurrency": {"pools": {"granularity": "op"}}}) as instance:
        instance.event_log_storage.set_concurrency_slots("orch_test_pool", 1)

        result = run(instance, jobs.pool_job, {"max_concurrent": 6})

        assert result.success
        intervals = step_intervals(instance, result.run_id)
        pooled = [v for k, v in intervals.items() if k.startswith("pooled_")]
        unpooled = [v for k, v in intervals.items() if k.startswith("unpooled_")]
        assert max_overlap(pooled) == 1
        assert max_overlap(unpooled) == 3
        assert max(i.end for i in unpooled) < max(i.end for i in pooled)
        assert any(
            "blocked by limit for pool orch_test_pool" in message
            for message in engine_messages(instance, result.run_id)
        )


def test_async_ops_run_side_by_side_in_thread_mode(executor_instance: DagsterInstance) -> None:
    result = run(executor_instance, jobs.async_job, {"max_concurrent": 3})

    assert result.success
    assert max_overlap(step_intervals(executor_instance, result.run_id).values()) == 3
