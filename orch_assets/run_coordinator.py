"""The run queue, plus: every run that writes a simulation database carries its database tag.

``dagster_home/dagster.yaml`` allows one run at a time per ``orch/database`` tag value. Jobs
set the tag themselves (``workforce_simulation``, ``all_scenarios``), but a run of the
implicit asset job (the UI's Materialize, a selection of assets) has only the tags the UI
gives it. Dagster 1.13 has no run tags per asset, so the op that writes a database declares it
as an op tag (``orch/database``), and this coordinator copies it onto the run before the run
is queued, when exactly one database is written and the run does not name one already.
"""

from __future__ import annotations

import dagster as dg

DATABASE_TAG = "orch/database"


def databases_written(instance: dg.DagsterInstance, run: dg.DagsterRun) -> set[str]:
    """The ``orch/database`` op tags of the ops in the run's (subset) job snapshot."""
    if run.job_snapshot_id is None:
        return set()
    snapshot = instance.get_job_snapshot(run.job_snapshot_id)
    return {
        op.tags[DATABASE_TAG]
        for op in snapshot.node_defs_snapshot.op_def_snaps
        if DATABASE_TAG in (op.tags or {})
    }


class DatabaseTagRunCoordinator(dg.QueuedRunCoordinator):
    """``QueuedRunCoordinator`` that tags asset-job runs with the database they write."""

    def submit_run(self, context: dg.SubmitRunContext) -> dg.DagsterRun:
        run = context.dagster_run
        if DATABASE_TAG not in run.tags:
            databases = databases_written(self._instance, run)
            if len(databases) == 1:
                self._instance.add_run_tags(run.run_id, {DATABASE_TAG: databases.pop()})
                run = self._instance.get_run_by_id(run.run_id) or run
                context = dg.SubmitRunContext(run, context.workspace)
        return super().submit_run(context)
