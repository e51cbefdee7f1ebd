"""One writer per DuckDB file across runs: the step holds the file's instance pool while it writes.

An op with a static ``pool`` (the baseline job, the ``all_scenarios`` ops) gets its slot from the
executor before it starts. A partitioned op writes a different file per partition, and Dagster
pools are per op, not per partition, so the step claims the pool of its file itself, through the
same instance storage (and the same slots, visible on the UI's pool page) that the executors use.
A run that finds the file's pool taken waits, saying which run holds it, instead of failing on
DuckDB's "Could not set lock on file".
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

POLL_INTERVAL_S = 0.5
REPORT_EVERY_S = 30.0


def _holders(instance: dg.DagsterInstance, pool: str) -> str:
    slots = instance.event_log_storage.get_concurrency_info(pool).claimed_slots
    return ", ".join(f"run {s.run_id} step {s.step_key}" for s in slots) or "another run"


def _pool_limit(context: dg.OpExecutionContext, pool: str) -> int | None:
    """The pool's limit, set to the instance's ``default_limit`` on first use as Dagster does."""
    storage = context.instance.event_log_storage
    limits = {p.name: p.limit for p in storage.get_pool_limits()}
    if pool not in limits and storage.get_pool_config().default_pool_limit is not None:
        storage.initialize_concurrency_limit_to_default(pool)
        limits = {p.name: p.limit for p in storage.get_pool_limits()}
    return limits.get(pool)


@contextmanager
def hold_pool(context: dg.OpExecutionContext, pool: str) -> Iterator[None]:
    """Holds one slot of the instance pool ``pool`` for the body; waits while it is full.

    Nothing to do when the step's op declares this pool (the executor holds it already). A pool
    without a limit (an instance without ``concurrency.pools.default_limit``) guards nothing: the
    step says so and goes on.
    """
    if context.op_def.pool == pool:
        yield
        return
    instance = context.instance
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits or _pool_limit(context, pool) is None:
        context.log.warning(
            f"pool {pool} has no limit on this instance: steps using the same database are not "
            "kept apart (set concurrency.pools.default_limit in dagster.yaml)"
        )
        yield
        return
    run_id, step_key = context.run.run_id, context.get_step_execution_context().step.key
    started = time.monotonic()
    reported = 0.0
    try:
        while not storage.claim_concurrency_slot(pool, run_id, step_key).is_claimed:
            waited = time.monotonic() - started
            if not reported or waited - reported >= REPORT_EVERY_S:
                context.log.info(
                    f"Waiting for pool {pool} (one writer per database), held by "
                    f"{_holders(instance, pool)}; waited {waited:.0f} s"
                )
                reported = waited or POLL_INTERVAL_S
            time.sleep(POLL_INTERVAL_S)
        if reported:
            context.log.info(f"Pool {pool} claimed after {time.monotonic() - started:.1f} s")
        yield
    finally:
        storage.free_concurrency_slot_for_step(run_id, step_key)
