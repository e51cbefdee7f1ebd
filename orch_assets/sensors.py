"""Sensors. ``orch_runtime_recorder`` records every finished run into the runtime table;
``orch_dead_runs`` ends runs whose process died without ending them."""

import dagster as dg

from orch_assets.runtime.observation import run_observation
from orch_assets.runtime.records import job_code_version, record_runs
from orch_assets.runtime.scan import ScanCursor, finished_runs_to_record
from orch_assets.runtime.store import RuntimeStore
from orch_assets.simulation.dead_runs import end_dead_runs

BATCH_SIZE = 50
MAX_BATCHES_PER_TICK = 4


@dg.sensor(
    name="orch_runtime_recorder",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Records every finished run (success, failure, canceled) of every job as one row of the "
        "runtime table (orch_runtime/runtime.duckdb under the Dagster home) and observes "
        "orch_runtime_history. Runs still going wait for a later tick."
    ),
)
def orch_runtime_recorder(
    context: dg.SensorEvaluationContext, runtime_store: RuntimeStore
) -> dg.SensorResult:
    """Scans run records updated after the cursor; upserts by run id, so any re-evaluation,
    restart or cursor reset leaves exactly one row per run."""
    table = runtime_store.table(context.instance)
    cursor = ScanCursor.parse(context.cursor)
    versions: dict[str, str | None] = {}

    def code_version(job_name: str) -> str | None:
        if job_name not in versions:
            versions[job_name] = job_code_version(context.repository_def, job_name)
        return versions[job_name]

    rows = []
    for _ in range(MAX_BATCHES_PER_TICK):
        pending, next_cursor = finished_runs_to_record(context.instance, table, cursor, BATCH_SIZE)
        rows += record_runs(context.instance, table, pending, code_version)
        progressed = next_cursor != cursor
        cursor = next_cursor
        if not progressed:
            break
    if not rows:
        return dg.SensorResult(skip_reason="No newly finished runs.", cursor=cursor.serialize())
    total = table.count()
    context.log.info(f"Recorded {len(rows)} run(s) in {table.path} ({total} in total).")
    return dg.SensorResult(
        asset_events=[run_observation(row, str(table.path), total) for row in rows],
        cursor=cursor.serialize(),
    )


@dg.sensor(
    name="orch_dead_runs",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Marks failed every run still STARTED whose process on this host is gone (killed or "
        "crashed), so the run queue moves on, and frees its pool slots once its processes are gone."
    ),
)
def orch_dead_runs(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    ended = end_dead_runs(context.instance, "the sensor orch_dead_runs")
    for sentence in ended:
        context.log.info(sentence)
    return dg.SkipReason("; ".join(ended) or "No run whose process is gone.")
