"""Ends runs that still count as running although their process on this host is gone.

Dagster's default run launcher has no health check, and ``dagster job execute`` runs are not
launched by a launcher at all: a SIGKILLed run stays ``STARTED`` for ever. The run queue then
holds back every later run with the same ``orch/database`` tag, and the daemon never frees the
dead run's pool slots (it frees those of *finished* runs only). The sensor ``orch_dead_runs``
(orch_assets/sensors.py) calls :func:`end_dead_runs` on the daemon's host; once a run is marked
failed, the queue moves on and the daemon frees its slots (``free_slots_after_run_end_seconds``),
unless a step of another run has freed them first (:mod:`orch_assets.simulation.pool`).
"""

from __future__ import annotations

import dagster as dg

from orch_assets.simulation.liveness import ACTIVE_STATUSES, mark_dead_run, run_process_gone

RUNS_PER_CHECK = 200


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
    return ended
