"""The body of a simulation step: check inputs, start the dbt worker, stream its events."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DagsterDbtTranslator

from orch_assets.config import SimulationConfig, resolve_threads
from orch_assets.dbt.events import dbt_node_events
from orch_assets.dbt.runner import DbtWorkerError, WorkerProcess, WorkerRequest
from orch_assets.dbt.selection import conditional_exclusions, load_project_vars, subset_selection
from orch_assets.dbt.translator import ExecutionClassTranslator
from orch_assets.executor import live_cap, register_subprocess
from orch_assets.project import workforce_dbt_project
from orch_assets.resources import database_pool
from orch_assets.runtime.recommend import find_recommendation
from orch_assets.simulation.liveness import RUN_TAGS_LOCK as _RUN_TAGS_LOCK
from orch_assets.simulation.liveness import record_holder
from orch_assets.simulation.pool import hold_pool
from orch_assets.simulation.published import published_tables, results_dir
from orch_assets.simulation.results import (
    SNAPSHOT_MODEL,
    SUMMARY_MODEL,
    SUMMARY_QUERIES,
    YearResults,
    simulation_fingerprint,
    years_table,
)

TAG_PREFIX = "orch/"


def _add_run_tags(
    context: dg.OpExecutionContext | dg.AssetExecutionContext, tags: Mapping[str, str]
) -> None:
    with _RUN_TAGS_LOCK:
        context.instance.add_run_tags(context.run.run_id, dict(tags))


def _require_previous_year(config: SimulationConfig, database_path: Path) -> None:
    """A run that starts after start_year continues from the stored snapshot of the year before."""
    first = config.years[0]
    if first == config.start_year:
        return
    rows = 0
    if database_path.exists():
        con = duckdb.connect(str(database_path), read_only=True)
        try:
            rows = con.execute(
                f"select count(*) from {SNAPSHOT_MODEL} where simulation_year = ?", [first - 1]
            ).fetchall()[0][0]
        except duckdb.CatalogException:
            rows = 0
        finally:
            con.close()
    if not rows:
        raise dg.Failure(
            f"from_year {first} continues from the {first - 1} snapshot, but {database_path} has "
            f"none: run from start_year {config.start_year} first"
        )


def _dbt_threads(
    context: dg.OpExecutionContext | dg.AssetExecutionContext, config: SimulationConfig
) -> tuple[int, str]:
    """Configured threads, never more than the adaptive executor's live cap for this run."""

    def recorded() -> tuple[int, str] | None:
        n_years = config.end_year - config.start_year + 1
        found = find_recommendation(context.instance, config.n_employees, n_years)
        return (found.dbt_threads, found.describe()) if found else None

    threads, source = resolve_threads(config.threads, os.environ, os.cpu_count(), recorded)
    cap = live_cap(context.run.run_id)
    if cap is not None and cap < threads:
        context.log.info(f"dbt threads {threads} lowered to the executor's live cap {cap}")
        return cap, f"{source}, capped by the executor's live cap"
    return threads, source


def run_simulation(
    context: dg.AssetExecutionContext | dg.OpExecutionContext,
    config: SimulationConfig,
    database_path: Path,
    simulation: str,
    translator: DagsterDbtTranslator | None = None,
    partition: str | None = None,
    shared_run: bool = False,
    lock_wait_seconds: float = 60.0,
) -> Iterator[dg.Output | dg.AssetMaterialization]:
    """Runs ``config.years`` in order into ``database_path``, yielding dagster-dbt events.

    ``translator`` maps dbt nodes to asset keys (default: the unprefixed keys). In an op without
    assets (``context.has_assets_def`` false) every model event is an ``AssetMaterialization``,
    for ``partition`` if given (else the run's partition, if any). ``shared_run``: several
    simulations run in this run, so the run tags are keyed by simulation
    (``orch/fingerprint/<simulation>``) instead of the single-simulation tags.
    ``lock_wait_seconds``: how long the worker waits for a reader holding the database.
    """
    project = workforce_dbt_project
    translator = translator or ExecutionClassTranslator()
    if partition is None and context.has_partition_key:
        partition = context.partition_key
    manifest = json.loads(project.manifest_path.read_text())
    if config.census_file and not Path(config.census_file).is_file():
        raise dg.Failure(f"census_file {config.census_file!r} does not exist")
    threads, threads_source = _dbt_threads(context, config)
    dbt_vars = config.dbt_vars()
    if config.census_file:
        dbt_vars["census_file"] = str(Path(config.census_file).resolve())
    select = (
        subset_selection(manifest, context.selected_asset_keys, translator.get_asset_key)
        if context.has_assets_def and context.is_subset
        else []
    )
    exclude = conditional_exclusions(manifest, dbt_vars, load_project_vars(project.project_dir))
    run_tags = {
        f"{TAG_PREFIX}dbt_threads": str(threads),
        f"{TAG_PREFIX}dbt_threads_source": threads_source,
        f"{TAG_PREFIX}simulation": simulation,
        f"{TAG_PREFIX}n_employees": str(config.n_employees),
        f"{TAG_PREFIX}years": f"{config.start_year}-{config.end_year}",
    }
    if shared_run:
        run_tags = {f"{key}/{simulation}": value for key, value in run_tags.items()}
    _add_run_tags(context, run_tags)
    context.log.info(
        f"Simulating {simulation} {config.years[0]}-{config.end_year}, {config.n_employees} "
        f"employees, dbt threads {threads} ({threads_source}), database {database_path}"
        + (f"; conditional models switched off: {', '.join(exclude)}" if exclude else "")
    )
    database_path.parent.mkdir(parents=True, exist_ok=True)
    request = WorkerRequest(
        project_dir=project.project_dir,
        profiles_dir=project.profiles_dir,
        partial_parse_seed=project.manifest_path.with_name("partial_parse.msgpack"),
        database_path=database_path,
        target_path=database_path.parent / "dbt_target",
        log_path=database_path.parent / "dbt_logs",
        years=config.years,
        threads=threads,
        vars=dbt_vars,
        select=select,
        exclude=exclude,
        summary_queries=SUMMARY_QUERIES,
        lock_wait_seconds=lock_wait_seconds,
        publish={
            "results_dir": str(results_dir(database_path)),
            "tables": published_tables(manifest),
            "writer": {"run_id": context.run.run_id},
        },
    )
    stream = _SimulationStream(context, manifest, translator, config.years, partition)
    step_key = context.get_step_execution_context().step.key

    def on_start(proc: subprocess.Popen[str]) -> None:
        register_subprocess(proc)
        # The dbt worker holds the database too: the pool is not free until it is gone.
        record_holder(context.instance, context.run.run_id, step_key, [proc.pid])

    with hold_pool(context, database_pool(simulation)):
        _require_previous_year(config, database_path)
        try:
            yield from stream.events(WorkerProcess(request, on_start=on_start))
        except DbtWorkerError as error:
            stderr_tail = dg.MetadataValue.text(error.stderr_tail[-4000:])
            raise dg.Failure(
                description=str(error), metadata={"worker stderr (tail)": stderr_tail}
            ) from None
    fingerprint = simulation_fingerprint({r.year: r.fingerprint_rows for r in stream.results})
    fingerprint_tag = f"{TAG_PREFIX}fingerprint" + (f"/{simulation}" if shared_run else "")
    _add_run_tags(context, {fingerprint_tag: fingerprint})
    context.log.info(f"Simulation fingerprint {fingerprint}")


class _SimulationStream:
    """Turns worker messages into logs and asset events, one year at a time.

    A year's dbt events are held until the worker has read that year's results, so that the
    snapshot and summary materializations carry the year's headcount, compensation and row
    count. The final year's events become the step's outputs; earlier years', materializations.
    """

    def __init__(
        self,
        context: dg.OpExecutionContext | dg.AssetExecutionContext,
        manifest: Mapping[str, Any],
        translator: DagsterDbtTranslator,
        years: list[int],
        partition: str | None = None,
    ) -> None:
        self.context = context
        self.manifest = manifest
        self.translator = translator
        self.years = years
        self.partition = partition
        self.results: list[YearResults] = []
        self._pending: list[dict[str, Any]] = []
        by_name = {
            p["name"]: p for p in manifest["nodes"].values() if p["resource_type"] == "model"
        }
        self._result_keys = [
            translator.get_asset_key(by_name[name]) for name in (SNAPSHOT_MODEL, SUMMARY_MODEL)
        ]

    def events(self, worker: WorkerProcess) -> Iterator[dg.Output | dg.AssetMaterialization]:
        log = self.context.log
        for message in worker.messages():
            kind = message["type"]
            if kind == "ready":
                log.info(f"dbt worker (pid {worker.pid}) parsed the project in "
                         f"{message['startup_seconds']} s")  # fmt: skip
            elif kind == "year_start":
                position = self.years.index(message["year"]) + 1
                log.info(f"Year {message['year']} ({position}/{len(self.years)})")
            elif kind == "lock_wait":
                log.info(f"Database held by pid {message['pid']} ({message['program']}), e.g. a "
                         f"reader; waiting up to {message['limit_seconds']:g} s (waited "
                         f"{message['waited_seconds']} s)")  # fmt: skip
            elif kind == "published" and (message["added"] or message["removed"]):
                log.info(f"Results in {message['results_dir']}: published {message['added']}, "
                         f"removed {message['removed']}")  # fmt: skip
            elif kind == "log":
                emit = log.warning if message["level"] in ("warn", "error") else log.debug
                emit(f"[{message['year']}] {message['msg']}")
            elif kind == "dbt_event":
                self._pending.append(message["event"])
            elif kind == "year_summary":
                yield from self._year_events(YearResults.from_message(message))
            elif kind == "year_end":
                counts = ", ".join(f"{k} {v}" for k, v in sorted(message["counts"].items()))
                status = "done" if message["success"] else "FAILED"
                log.info(f"Year {message['year']} {status} in {message['seconds']} s: {counts}")

    def _year_events(self, year: YearResults) -> Iterator[dg.Output | dg.AssetMaterialization]:
        self.results.append(year)
        final = year.year == self.years[-1]
        metadata: dict[str, Any] = year.metadata()
        if final:
            metadata["years"] = years_table(self.results)
            metadata["orch/fingerprint"] = simulation_fingerprint(
                {r.year: r.fingerprint_rows for r in self.results}
            )
        extra = dict.fromkeys(self._result_keys, metadata)
        for raw in self._pending:
            yield from dbt_node_events(
                self.context, self.manifest, self.translator, raw, year.year, final, extra,
                self.partition,
            )  # fmt: skip
        self._pending.clear()
