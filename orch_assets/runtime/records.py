"""Finished runs -> runtime rows: what the sensor and the sweep record.

:func:`record_runs` builds each row from the run record, its tags, its run config and its step
stats, and upserts it by run id: recording a run again (another sensor tick, a reset cursor, a
sweep that records its own runs) replaces its row, never adds a second one.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, overload

import dagster as dg

from orch_assets.config import SimulationConfig
from orch_assets.executor import run_cpu_limit
from orch_assets.runtime import tags as t
from orch_assets.runtime.store import RuntimeRow, RuntimeTable

FINISHED_STATUSES = (
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
)
# Run config that does not change what a run computes: where it writes and how it is executed.
NON_INPUT_CONFIG = ("execution", "resources", "loggers")
THREAD_KEYS = ("threads",)


@overload
def utc(value: datetime | float) -> datetime: ...
@overload
def utc(value: None) -> None: ...
def utc(value: datetime | float | None) -> datetime | None:
    """Naive UTC, the form the runtime table stores."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc).replace(tzinfo=None)
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _without_thread_settings(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_thread_settings(v) for k, v in value.items() if k not in THREAD_KEYS}
    return value


def _simulation_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """Flat workforce config with its defaults filled in: `{}` and explicit defaults match."""
    try:
        return SimulationConfig(**config).model_dump(exclude={"threads"}, exclude_none=True)
    except Exception:
        return config


def run_inputs(
    job_name: str, run_config: Mapping[str, Any], tags: Mapping[str, str], code_version: str | None
) -> dict[str, Any]:
    """What decides a run's outputs: the job, its code, its config minus where and how it runs.

    Thread settings (``threads`` at any depth, the ``execution`` block) and resources (data
    directories) are left out: runs that differ only there must produce identical outputs.
    """
    config = {k: v for k, v in run_config.items() if k not in NON_INPUT_CONFIG}
    config = _without_thread_settings(config)
    if t.YEARS in tags and "ops" not in config:
        config = _simulation_defaults(config)
    return {
        "job": job_name,
        "simulation": tags.get(t.SIMULATION),
        "code_version": code_version,
        "config": config,
    }


def configured_threads(run_config: Mapping[str, Any]) -> int | None:
    """dbt threads set as a number in ``run_config`` (flat, or one op's config), else ``None``.

    The simulation tags the threads it used; a run that failed before that still ran with these.
    """
    found = {run_config.get("threads")} | {
        op.get("config", {}).get("threads")
        for op in (run_config.get("ops") or {}).values()
        if isinstance(op, Mapping) and isinstance(op.get("config"), Mapping)
    }
    numbers = {v for v in found if isinstance(v, int) and not isinstance(v, bool)}
    return numbers.pop() if len(numbers) == 1 else None


def inputs_key(inputs: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def configuration_label(
    mode: str | None, max_concurrent: int | None, dbt_threads: int | None
) -> str:
    """``threads=2`` with the default executor; ``threads=2 thread/4`` with the adaptive one."""
    threads = f"threads={dbt_threads}" if dbt_threads is not None else "threads=?"
    if mode is None:
        return threads
    return f"{threads} {mode}/{max_concurrent if max_concurrent is not None else '?'}"


def peak_overlap(intervals: Sequence[tuple[float, float]]) -> int:
    """Most intervals open at one instant (touching ends do not overlap)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, change in edges:
        running += change
        peak = max(peak, running)
    return peak


def parallel_efficiency(
    step_seconds: float | None, wall_seconds: float | None, concurrency: int | None
) -> float | None:
    """Σ step seconds ÷ (wall seconds × concurrency): 1.0 means every slot busy the whole run."""
    if not step_seconds or not wall_seconds or not concurrency or wall_seconds <= 0:
        return None
    return step_seconds / (wall_seconds * concurrency)


def _metrics_source(tags: Mapping[str, str]) -> str | None:
    if t.METRICS_SOURCE in tags:
        return tags[t.METRICS_SOURCE]
    return "executor" if any(key in tags for key in t.METRIC_TAGS) else None


def row_for_run(
    record: dg.RunRecord,
    step_stats: Sequence[Any],
    code_version: str | None,
    recorded_at: datetime,
    host: str,
    cpu_count: int | None,
) -> RuntimeRow:
    """The runtime row of one finished run (``step_stats`` from ``get_run_step_stats``).

    ``cpu_count`` is the recorder's; the run's own ``orch/cpus`` tag (the CPUs its cgroup let it
    use) takes precedence."""
    run = record.dagster_run
    tags = t.with_simulation_tags(run.tags)
    intervals = [(s.start_time, s.end_time) for s in step_stats if s.start_time and s.end_time]
    step_seconds = sum(end - start for start, end in intervals) if intervals else None
    wall = (
        record.end_time - record.start_time
        if record.start_time is not None and record.end_time is not None
        else None
    )
    mode, max_concurrent = tags.get(t.MODE), t.tag_int(tags, t.MAX_CONCURRENT)
    dbt_threads = t.tag_int(tags, t.DBT_THREADS)
    if dbt_threads is None:
        dbt_threads = configured_threads(run.run_config)
    peak_concurrency = t.tag_int(tags, t.PEAK_CONCURRENCY) or (peak_overlap(intervals) or None)
    years = t.tag_years(tags)
    code_version = tags.get(t.CODE_VERSION, code_version)
    inputs = run_inputs(run.job_name, run.run_config, run.tags, code_version)
    return RuntimeRow(
        run_id=run.run_id,
        job_name=run.job_name,
        status=run.status.value.lower(),
        started_at=utc(record.start_time),
        ended_at=utc(record.end_time),
        wall_seconds=wall,
        executor_mode=mode,
        max_concurrent=max_concurrent,
        dbt_threads=dbt_threads,
        threads_source=tags.get(t.DBT_THREADS_SOURCE),
        configuration=configuration_label(mode, max_concurrent, dbt_threads),
        step_seconds=step_seconds,
        n_steps=len(step_stats),
        peak_concurrency=peak_concurrency,
        parallel_efficiency=parallel_efficiency(
            step_seconds, wall, max_concurrent or peak_concurrency
        ),
        peak_rss_bytes=t.tag_int(tags, t.PEAK_RSS_BYTES),
        mean_cpu_percent=t.tag_float(tags, t.MEAN_CPU_PERCENT),
        metrics_source=_metrics_source(tags),
        simulation=tags.get(t.SIMULATION),
        n_employees=t.tag_int(tags, t.N_EMPLOYEES),
        start_year=years[0] if years else None,
        end_year=years[1] if years else None,
        n_years=years[1] - years[0] + 1 if years else None,
        inputs_key=inputs_key(inputs),
        inputs_json=json.dumps(inputs, sort_keys=True, default=str),
        fingerprint=tags.get(t.FINGERPRINT),
        sweep_id=tags.get(t.SWEEP_ID),
        host=host,
        cpu_count=t.tag_int(tags, t.CPUS) or cpu_count,
        run_updated_at=utc(record.update_timestamp),
        recorded_at=recorded_at,
    )


def job_code_version(repository: dg.RepositoryDefinition | None, job_name: str) -> str | None:
    """One hash over the code versions of the assets a job materializes (dbt: model checksums).

    Read when the run is recorded, from the definitions the recorder has loaded; a run can set
    the tag ``orch/code_version`` to state its own. ``None`` for jobs without versioned assets.
    """
    if repository is None:
        return None
    try:
        job = repository.get_job(job_name)
        graph = repository.asset_graph
        versions = {
            key.to_user_string(): graph.get(key).code_version
            for key in job.asset_layer.selected_asset_keys
        }
    except Exception:
        return None
    if not any(versions.values()):
        return None
    return hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:16]


def record_runs(
    instance: dg.DagsterInstance,
    table: RuntimeTable,
    records: Sequence[dg.RunRecord],
    code_version_for: Callable[[str], str | None] = lambda job_name: None,
) -> list[RuntimeRow]:
    """Builds and upserts the rows of ``records`` (finished runs); returns them."""
    now = utc(datetime.now(timezone.utc))
    host, cpus = socket.gethostname(), run_cpu_limit().cpus
    finished = [r for r in records if r.dagster_run.status in FINISHED_STATUSES]
    rows = [
        row_for_run(
            r, instance.get_run_step_stats(r.dagster_run.run_id),
            code_version_for(r.dagster_run.job_name), now, host, cpus,
        )
        for r in finished
    ]  # fmt: skip
    table.upsert(rows)
    return rows


def record_run_ids(
    instance: dg.DagsterInstance,
    table: RuntimeTable,
    run_ids: Sequence[str],
    code_version_for: Callable[[str], str | None] = lambda job_name: None,
) -> list[RuntimeRow]:
    """Records the given runs now (those still going are skipped)."""
    records = instance.get_run_records(filters=dg.RunsFilter(run_ids=list(run_ids)))
    return record_runs(instance, table, records, code_version_for)
