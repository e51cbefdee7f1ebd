"""Ends runs that still count as running although their process on this host is gone.

Dagster's default run launcher has no health check, and ``dagster job execute`` runs are not
launched by a launcher at all: a SIGKILLed run stays ``STARTED`` for ever. The run queue then
holds back every later run with the same ``orch/database`` tag, and the daemon never frees the
dead run's pool slots (it frees those of *finished* runs only, after
``free_slots_after_run_end_seconds``). The sensor ``orch_dead_runs`` (orch_assets/sensors.py)
calls :func:`end_dead_runs` on the daemon's host: it marks such a run failed, and frees the pool
slots of every ended run whose recorded processes are all gone (a dbt worker outlives its run by
up to a second: its slot is freed at the next tick, or by a step of another run that needs the
pool, :mod:`orch_assets.simulation.pool`).
"""

from __future__ import annotations

import dagster as dg

from orch_assets.simulation.liveness import (
    ACTIVE_STATUSES,
    SlotHolder,
    mark_dead_run,
    run_process_gone,
)

RUNS_PER_CHECK = 200


def free_slots_of_ended_runs(instance: dg.DagsterInstance) -> list[str]:
    """Frees every pool slot still claimed by a run that has ended and whose processes are gone.

    A step killed with its run cannot free what it claimed; a run's end (marked by this sensor,
    or by the code server that saw its child die) does not free it either.
    """
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    freed = []
    for pool in sorted(storage.get_concurrency_keys()):
        for slot in storage.get_concurrency_info(pool).claimed_slots:
            holder = SlotHolder.load(instance, slot.run_id, slot.step_key)
            if holder.run is None or not holder.run.is_finished or not holder.gone():
                continue
            storage.free_concurrency_slot_for_step(slot.run_id, slot.step_key)
            processes = ", ".join(p.describe() for p in holder.processes)
            freed.append(
                f"Freed pool {pool}: run {slot.run_id} ended ({holder.run.status.value}) and "
                f"the processes of its step {slot.step_key} are gone ({processes})"
            )
    return freed


def end_dead_runs(instance: dg.DagsterInstance, checked_by: str) -> list[str]:
    """Marks each running run whose recorded process is gone; one sentence per run ended."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=list(ACTIVE_STATUSES)), limit=RUNS_PER_CHECK
    )
    ended = []
    for run in runs:
        process = run_process_gone(run)
        if process is None:
            continue
        status = run.status.value
        outcome = mark_dead_run(instance, run, process, f"{checked_by} found it")
        ended.append(
            f"Run {run.run_id} ({run.job_name}) was {status} but its process "
            f"({process.describe()}) is gone: marked {outcome}"
        )
    return ended + free_slots_of_ended_runs(instance)
