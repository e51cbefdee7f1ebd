"""Schedules. Their runs carry the run-queue concurrency tags (dagster_home/dagster.yaml), so a
scheduled run waits in the queue behind a run on the same database instead of hitting its lock.

Both are on by default: the daemon started by `dagster dev` evaluates them.
"""

import dagster as dg

from orch_assets.jobs import ALL_SCENARIOS_DATABASE_TAG, all_scenarios, workforce_simulation

DATABASE_TAG = "orch/database"
SCHEDULE_TIMEZONE = "UTC"


@dg.schedule(
    job=workforce_simulation,
    cron_schedule="0 2 * * *",
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The baseline simulation every night at 02:00 UTC, with the job's defaults.",
)
def nightly_baseline(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"nightly_baseline/{context.scheduled_execution_time:%Y-%m-%d}",
        tags={DATABASE_TAG: "baseline"},
    )


@dg.schedule(
    job=all_scenarios,
    cron_schedule="0 3 * * 0",
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every scenario in one run, Sundays at 03:00 UTC.",
)
def weekly_all_scenarios(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"weekly_all_scenarios/{context.scheduled_execution_time:%Y-%m-%d}",
        tags={DATABASE_TAG: ALL_SCENARIOS_DATABASE_TAG},
    )
