"""One writer per DuckDB file across runs: the step holds the file's instance pool while it writes.

Every step that writes (or reads) a simulation database claims the pool of its file itself,
through the same instance storage (and the same slots, visible on the UI's pool page) that
Dagster's executors use for an op's static ``pool``. A static pool would not do: Dagster pools are
per op, not per partition; the executor waits for a static pool before the step starts, so no
code of the step could see that the holder is dead; and the run queue holds back a run whose
static pool is full. A run that finds the file's pool taken waits, saying which run holds it,
instead of failing on DuckDB's "Could not set lock on file"; a holder whose processes are gone
(:mod:`orch_assets.simulation.liveness`) has its slot freed, and its run ended, on the spot.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from orch_assets.executor import run_instance
from orch_assets.simulation.liveness import (
    SlotHolder,
    mark_dead_run,
    record_holder,
    run_process_gone,
)

POLL_INTERVAL_S = 0.5
REPORT_EVERY_S = 30.0


def _slot_holders(instance: dg.DagsterInstance, pool: str) -> list[SlotHolder]:
    slots = instance.event_log_storage.get_concurrency_info(pool).claimed_slots
    return [SlotHolder.load(instance, s.run_id, s.step_key) for s in slots]


def free_dead_holders(instance: dg.DagsterInstance, pool: str, claimant: str) -> list[str]:
    """Frees the slots of ``pool`` whose holders are gone; returns one sentence per action.

    A holder's run that still counts as running while its process is gone is ended too, so the
    run queue and the UI stop counting it. ``claimant`` (the run asking) is named in its log.
    """
    storage = instance.event_log_storage
    freed = []
    for holder in _slot_holders(instance, pool):
        ended = ""
        dead_process = run_process_gone(holder.run) if holder.run is not None else None
        if holder.run is not None and dead_process is not None:
            reason = f"run {claimant} found it holding pool {pool}"
            outcome = mark_dead_run(instance, holder.run, dead_process, reason)
            status = holder.run.status.value
            ended = f"; run {holder.run_id} was still {status} and is now marked {outcome}"
        if not holder.gone():
            if ended:
                alive = ", ".join(p.describe() for p in holder.processes if p.alive())
                freed.append(f"Pool {pool} stays held until {alive} exit{ended}")
            continue
        storage.free_concurrency_slot_for_step(holder.run_id, holder.step_key)
        processes = ", ".join(p.describe() for p in holder.processes)
        freed.append(
            f"Freed pool {pool}: it was held by run {holder.run_id} step {holder.step_key}, and "
            f"its processes are gone ({processes}){ended}"
        )
    return freed


def _pool_limit(instance: dg.DagsterInstance, pool: str) -> int | None:
    """The pool's limit, set to the instance's ``default_limit`` on first use as Dagster does."""
    storage = instance.event_log_storage
    limits = {p.name: p.limit for p in storage.get_pool_limits()}
    if pool not in limits and storage.get_pool_config().default_pool_limit is not None:
        storage.initialize_concurrency_limit_to_default(pool)
        limits = {p.name: p.limit for p in storage.get_pool_limits()}
    return limits.get(pool)


@contextmanager
def hold_pool(
    context: dg.OpExecutionContext | dg.AssetExecutionContext, pool: str
) -> Iterator[None]:
    """Holds one slot of the instance pool ``pool`` for the body; waits while it is full.

    A pool without a limit (an instance without ``concurrency.pools.default_limit``, e.g. the
    temporary instance of ``dagster job execute`` without ``DAGSTER_HOME``) queues nothing: the
    step says so and goes on; the database's writer lock (:mod:`~orch_assets.simulation.writer_lock`)
    still keeps one writer at a time. Otherwise nothing to do when the step's op declares this pool (the
    executor holds it already). On a Dask worker the claims go to the run's instance through the
    run process (:func:`orch_assets.executor.run_instance`).
    """
    instance = run_instance(context)
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits or _pool_limit(instance, pool) is None:
        context.log.info(
            f"Runs are not queued by pool {pool}: it has no limit on this instance (set "
            "concurrency.pools.default_limit in dagster.yaml, e.g. DAGSTER_HOME=$PWD/dagster_home, "
            "to see writers queue in the UI); the database's writer lock still lets one run "
            "write it at a time"
        )
        yield
        return
    if context.op_def.pool == pool:
        yield
        return
    run_id, step_key = context.run.run_id, context.get_step_execution_context().step.key
    record_holder(instance, run_id, step_key)
    started = time.monotonic()
    reported = 0.0
    try:
        while not storage.claim_concurrency_slot(pool, run_id, step_key).is_claimed:
            freed = free_dead_holders(instance, pool, run_id)
            for sentence in freed:
                context.log.info(sentence)
            if freed:
                continue
            waited = time.monotonic() - started
            if not reported or waited - reported >= REPORT_EVERY_S:
                holders = ", ".join(h.describe() for h in _slot_holders(instance, pool))
                context.log.info(
                    f"Waiting for pool {pool} (one writer per database), held by "
                    f"{holders or 'another run'}; waited {waited:.0f} s"
                )
                reported = waited or POLL_INTERVAL_S
            time.sleep(POLL_INTERVAL_S)
        if reported:
            context.log.info(f"Pool {pool} claimed after {time.monotonic() - started:.1f} s")
        yield
    finally:
        storage.free_concurrency_slot_for_step(run_id, step_key)
