"""A sweep: the same simulation inputs at several thread settings, repeated, as real runs.

Runs are launched through the Dagster instance with ``execute_job`` (the job's own executor,
step processes and all, as a launched run would) and interleaved (1, 2, 4, 1, 2, 4, ...) so that
a slow patch on a shared machine does not land on one configuration only. Each run writes into a
fresh data directory, removed afterwards, so every run starts from the same empty state and the
user's own simulation databases are never touched. After each run the sweep records it at once.

While a run goes, the sweep samples its own process tree (the run's orchestration, step
processes and the dbt worker) with psutil; if the run's executor did not write
``orch/peak_rss_bytes`` / ``orch/mean_cpu_percent`` itself, the sweep writes its figures, marked
``orch/metrics_source: sweep``.
"""

from __future__ import annotations

import shutil
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dagster as dg

from orch_assets.executor.capacity import ProcessTreeProbe, RunMetrics
from orch_assets.runtime import tags as t
from orch_assets.runtime.observation import run_observation
from orch_assets.runtime.records import job_code_version, record_run_ids
from orch_assets.runtime.store import RuntimeRow, RuntimeTable

SAMPLE_INTERVAL_S = 0.25
DEFAULT_JOB = "workforce_simulation"


def definitions_job(job_name: str = DEFAULT_JOB) -> dg.JobDefinition:
    """The job from the code location's Definitions (module level, for ``reconstructable``)."""
    from orch_assets.definitions import defs

    return defs.resolve_job_def(job_name)


def _definitions_repository() -> dg.RepositoryDefinition:
    from orch_assets.definitions import defs

    return defs.get_repository_def()


@dataclass(frozen=True)
class SweepPlan:
    """``threads`` × ``repeats`` runs of ``job_name`` with the same flat ``run_config``."""

    threads: tuple[int, ...]
    repeats: int = 3
    run_config: Mapping[str, Any] = field(default_factory=dict)
    execution: Mapping[str, Any] | None = None
    job_name: str = DEFAULT_JOB
    keep_data: bool = False

    def __post_init__(self) -> None:
        if not self.threads or len(set(self.threads)) != len(self.threads):
            raise ValueError(f"threads must be distinct and not empty, got {self.threads}")
        if self.repeats < 1:
            raise ValueError(f"repeats must be at least 1, got {self.repeats}")
        for reserved in ("threads", "resources", "execution"):
            if reserved in self.run_config:
                raise ValueError(f"run_config must not set {reserved!r}: the sweep sets it")

    def launches(self) -> list[tuple[int, int]]:
        """(repeat, threads) in launch order: every configuration once per round."""
        return [(repeat, threads) for repeat in range(self.repeats) for threads in self.threads]

    def run_config_for(self, threads: int, data_dir: Path) -> dict[str, Any]:
        config: dict[str, Any] = {
            **self.run_config,
            "threads": threads,
            "resources": {"simulation_store": {"config": {"data_dir": str(data_dir)}}},
        }
        if self.execution is not None:
            config["execution"] = dict(self.execution)
        return config


@dataclass(frozen=True)
class SweepRun:
    run_id: str
    threads: int
    repeat: int
    success: bool
    row: RuntimeRow | None


@dataclass(frozen=True)
class SweepResult:
    sweep_id: str
    runs: tuple[SweepRun, ...]

    @property
    def failed(self) -> list[SweepRun]:
        return [r for r in self.runs if not r.success]


class _TreeSampler:
    """Samples this process and its descendants in a thread while a run executes in-process."""

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self.metrics = RunMetrics()
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._probe = ProcessTreeProbe()
        self._thread = threading.Thread(target=self._loop, name="sweep-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.metrics.observe(self._probe.read())
            self._stop.wait(self._interval_s)

    def __enter__(self) -> _TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.metrics.observe(self._probe.read())


def _fill_metric_tags(instance: dg.DagsterInstance, run_id: str, metrics: RunMetrics) -> None:
    run = instance.get_run_by_id(run_id)
    if run is None or any(key in run.tags for key in t.METRIC_TAGS):
        return
    tags = {t.METRICS_SOURCE: "sweep", t.PEAK_RSS_BYTES: str(metrics.peak_rss_bytes)}
    mean_cpu = metrics.mean_cpu_percent()
    if mean_cpu is not None:
        tags[t.MEAN_CPU_PERCENT] = f"{mean_cpu:.1f}"
    instance.add_run_tags(run_id, tags)


def new_sweep_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")


def run_sweep(
    instance: dg.DagsterInstance,
    table: RuntimeTable,
    plan: SweepPlan,
    progress: Callable[[str], None] = print,
    sweep_id: str | None = None,
    job: dg.ReconstructableJob | None = None,
) -> SweepResult:
    """Launches every run of ``plan`` in turn, records each, and returns what happened."""
    sweep_id = sweep_id or new_sweep_id()
    reconstructable: dg.ReconstructableJob = job or dg.build_reconstructable_job(
        __name__, "definitions_job", reconstructable_kwargs={"job_name": plan.job_name}
    )
    repository = _definitions_repository()
    work_dir = table.directory / "sweeps" / sweep_id
    launches = plan.launches()
    runs: list[SweepRun] = []
    walls: list[float] = []
    progress(
        f"Sweep {sweep_id}: {plan.job_name}, threads {list(plan.threads)} x {plan.repeats} "
        f"repeat(s) = {len(launches)} runs; recording into {table.path}"
    )
    for index, (repeat, threads) in enumerate(launches, start=1):
        label = f"threads={threads}"
        eta = (
            f", about {statistics.median(walls) * (len(launches) - index + 1):.0f} s left"
            if walls
            else ""
        )
        progress(
            f"[{index}/{len(launches)}] {label}, repeat {repeat + 1}/{plan.repeats}: running{eta}"
        )
        data_dir = work_dir / f"run{index:03d}"
        started = time.monotonic()
        with _TreeSampler() as sampler:
            result = dg.execute_job(
                reconstructable,
                instance=instance,
                run_config=plan.run_config_for(threads, data_dir),
                tags={t.SWEEP_ID: sweep_id, t.SWEEP_CONFIGURATION: label},
            )
        walls.append(time.monotonic() - started)
        _fill_metric_tags(instance, result.run_id, sampler.metrics)
        rows = record_run_ids(
            instance, table, [result.run_id], lambda name: job_code_version(repository, name)
        )
        row = rows[0] if rows else None
        if row is not None:
            observation = run_observation(row, str(table.path), table.count())
            instance.report_runless_asset_event(observation)
        runs.append(SweepRun(result.run_id, threads, repeat, result.success, row))
        progress("    " + _describe(result.run_id, result.success, row))
        if not plan.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
    if not plan.keep_data:
        shutil.rmtree(work_dir, ignore_errors=True)
    return SweepResult(sweep_id, tuple(runs))


def _describe(run_id: str, success: bool, row: RuntimeRow | None) -> str:
    status = "success" if success else "FAILED"
    if row is None:
        return f"{status}: run {run_id} (not recorded)"
    rss = f", peak RSS {row.peak_rss_bytes / 1024**2:.0f} MiB" if row.peak_rss_bytes else ""
    fingerprint = f", fingerprint {row.fingerprint[:12]}" if row.fingerprint else ""
    return f"{status} in {row.wall_seconds or 0:.1f} s{rss}{fingerprint} (run {run_id})"


def parse_thread_list(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` -> ``(1, 2, 4)``; each value must be a valid ``threads`` setting (1-16)."""
    from orch_assets.config import parse_threads

    values = []
    for part in text.split(","):
        value = parse_threads(part.strip(), "threads")
        if value == "auto":
            raise ValueError("a sweep needs explicit thread counts, not 'auto'")
        values.append(int(value))
    return tuple(values)


def summarize_failures(runs: Sequence[SweepRun]) -> str:
    return ", ".join(f"{r.run_id} (threads={r.threads})" for r in runs)
