"""The body of a simulation step: check inputs, hold the database, run the years through
``GatedDbtCliResource`` (:mod:`orch_assets.simulation.years`), record the fingerprint."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

from orch_assets.config import SimulationConfig, resolve_threads_here
from orch_assets.dbt import GatedDbtCliResource
from orch_assets.dbt.runner import DbtWorkerError
from orch_assets.executor import live_cap
from orch_assets.project import WorkforceTranslator, workforce_dbt_project
from orch_assets.resources import database_pool
from orch_assets.run_coordinator import DATABASE_TAG
from orch_assets.runtime.recommend import find_recommendation
from orch_assets.simulation.database import (
    RECORD_COMPLETED_YEAR_SQL,
    UNMARK_YEAR_SQL,
    database_fingerprint,
)
from orch_assets.simulation.inputs import SimulationInputs
from orch_assets.simulation.liveness import RUN_TAGS_LOCK as _RUN_TAGS_LOCK
from orch_assets.simulation.liveness import record_holder
from orch_assets.simulation.model_gate import model_gate_enabled
from orch_assets.simulation.node_timings import NodeTimingBook
from orch_assets.simulation.pool import hold_pool
from orch_assets.simulation.preflight import check_before_writing
from orch_assets.simulation.prepare import (
    configured_options,
    prepare_database,
    remove_interrupted_years,
    restore_later_years,
    reuse_stored,
)
from orch_assets.simulation.published import published_tables, results_dir
from orch_assets.simulation.results import (
    SNAPSHOT_MODEL,
    SUMMARY_MODEL,
    SUMMARY_QUERIES,
    counted_tables,
)
from orch_assets.simulation.selection import (
    conditional_exclusions,
    later_years_exclusions,
    load_project_vars,
    subset_selection,
    with_upstream,
)
from orch_assets.simulation.writer_lock import WriterLockTimeout, hold_writer_lock
from orch_assets.simulation.years import SimulationYears, YearFailedError, YearPlan

TAG_PREFIX = "orch/"


def _add_run_tags(
    context: dg.OpExecutionContext | dg.AssetExecutionContext, tags: Mapping[str, str]
) -> None:
    with _RUN_TAGS_LOCK:
        context.instance.add_run_tags(context.run.run_id, dict(tags))


def _dbt_threads(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    config: SimulationConfig,
    gated: bool,
) -> tuple[int, str]:
    """Configured threads. Gated, they are the ceiling and the live cap governs each build
    (orch_assets/dbt/gate.py); ungated, never more than the executor's live cap at the start."""

    def recorded() -> tuple[int, str] | None:
        n_years = config.end_year - config.start_year + 1
        found = find_recommendation(context.instance, config.n_employees, n_years)
        return (found.dbt_threads, found.describe()) if found else None

    threads, source = resolve_threads_here(config.threads, os.environ, recorded)
    cap = live_cap(context.run.run_id)
    if not gated and cap is not None and cap < threads:
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
    reuse_stored_inputs: bool = False,
    lock_wait_seconds: float = 60.0,
    writer_wait_seconds: float = 1800.0,
) -> Iterator[dg.Output | dg.AssetMaterialization]:
    """Runs ``config.years`` in order into ``database_path``, yielding dagster-dbt events.

    ``translator`` maps dbt nodes to asset keys (default: the unprefixed keys). In an op without
    assets (``context.has_assets_def`` false) every model event is an ``AssetMaterialization``,
    for ``partition`` if given (else the run's partition, if any). ``shared_run``: several
    simulations run in this run, so the run tags are keyed by simulation
    (``orch/fingerprint/<simulation>``) instead of the single-simulation tags.
    ``reuse_stored_inputs``: an asset-job run takes the stored inputs for every option its op
    config leaves unset (:func:`~orch_assets.simulation.prepare.configured_options`).
    ``lock_wait_seconds``: how long the step and the worker wait for a reader holding the database.
    ``writer_wait_seconds``: how long the step waits for another writer of the database
    (:mod:`~orch_assets.simulation.writer_lock`), held from before the first write to the last read.
    """
    if partition is None and context.has_partition_key:
        partition = context.partition_key
    if not shared_run and DATABASE_TAG not in context.run.tags:
        _add_run_tags(context, {DATABASE_TAG: simulation})
    check_before_writing(config, database_path)
    with (
        hold_pool(context, database_pool(simulation)),
        _writer_lock(context, database_path, writer_wait_seconds),
    ):
        explicit = configured_options(context) if reuse_stored_inputs else None
        if explicit is not None:
            stored = reuse_stored(database_path, explicit, lock_wait_seconds, context.log.info)
            if stored is not None:
                config = stored
                check_before_writing(config, database_path)
        yield from _simulate(
            context, config, database_path, simulation,
            translator or WorkforceTranslator(), partition, shared_run, lock_wait_seconds,
        )  # fmt: skip


@contextmanager
def _writer_lock(
    context: dg.AssetExecutionContext | dg.OpExecutionContext,
    database_path: Path,
    wait_seconds: float,
) -> Iterator[None]:
    try:
        with hold_writer_lock(database_path, context.run.run_id, wait_seconds, context.log.info):
            yield
    except WriterLockTimeout as error:
        raise dg.Failure(str(error)) from None


def _simulate(
    context: dg.AssetExecutionContext | dg.OpExecutionContext,
    config: SimulationConfig,
    database_path: Path,
    simulation: str,
    translator: DagsterDbtTranslator,
    partition: str | None,
    shared_run: bool,
    lock_wait_seconds: float,
) -> Iterator[dg.Output | dg.AssetMaterialization]:
    # The public resource, as any dagster-dbt project uses it: its worker runs in the
    # simulation's directory (the profile's relative workforce.duckdb), parses once for every
    # year (the project's configs read no var), and the simulation records its own node times.
    dbt = GatedDbtCliResource(
        project_dir=workforce_dbt_project, worker_cwd=str(database_path.parent),
        reparse_on_vars=False, record_history=False, gate=model_gate_enabled(),
    )  # fmt: skip
    # Started first: the worker imports dbt and parses the project while the step checks and
    # prepares the database. It holds the database too: the pool is not free until it is gone.
    worker = dbt.worker(context)
    step_key = context.get_step_execution_context().step.key
    record_holder(context.instance, context.run.run_id, step_key, [worker.pid])
    try:
        yield from _simulate_with(
            context, dbt, config, database_path, simulation, translator, partition, shared_run,
            lock_wait_seconds,
        )  # fmt: skip
    finally:
        dbt.stop_workers()


def _simulate_with(
    context: dg.AssetExecutionContext | dg.OpExecutionContext,
    dbt: GatedDbtCliResource,
    config: SimulationConfig,
    database_path: Path,
    simulation: str,
    translator: DagsterDbtTranslator,
    partition: str | None,
    shared_run: bool,
    lock_wait_seconds: float,
) -> Iterator[dg.Output | dg.AssetMaterialization]:
    project = workforce_dbt_project
    manifest = json.loads(project.manifest_path.read_text())
    gated = dbt.gate
    threads, threads_source = _dbt_threads(context, config, gated)
    dbt_vars = config.dbt_vars()
    subset = context.has_assets_def and context.is_subset
    selected = (
        subset_selection(manifest, context.selected_asset_keys, translator.get_asset_key)
        if subset
        else []
    )
    project_vars = load_project_vars(project.project_dir)
    exclude = conditional_exclusions(manifest, dbt_vars, project_vars)
    inputs = SimulationInputs.of(config, project_vars, project.project_dir)
    plan = prepare_database(
        database_path, config, inputs, config.on_input_change, subset, lock_wait_seconds,
        context.log.info,
    )  # fmt: skip
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
        f"Simulating {simulation} {plan.years[0]}-{plan.years[-1]}, {config.n_employees} "
        f"employees, dbt threads {threads} ({threads_source}), database {database_path}"
        + (f"; conditional models switched off: {', '.join(exclude)}" if exclude else "")
        + (f"; subset {', '.join(selected)} with the models they need" if subset else "")
    )
    publish = {
        "results_dir": str(results_dir(database_path)),
        "tables": published_tables(manifest),
        "writer": {"run_id": context.run.run_id},
    }
    year_plan = YearPlan(
        years=plan.years, threads=threads, vars=dbt_vars, database_path=database_path,
        lock_wait_seconds=lock_wait_seconds, publish=publish, select=with_upstream(selected),
        exclude=exclude, later_years_exclude=later_years_exclusions(manifest, exclude),
        year_started_sql=[UNMARK_YEAR_SQL], year_completed_sql=[RECORD_COMPLETED_YEAR_SQL],
        summary_queries=SUMMARY_QUERIES, row_counts=counted_tables(manifest),
    )  # fmt: skip
    book = NodeTimingBook(manifest)
    timeline = database_path.parent / "timelines" / f"{context.run.run_id}.png"
    by_name = {p["name"]: p for p in manifest["nodes"].values() if p["resource_type"] == "model"}
    years = SimulationYears(
        context, dbt, year_plan, manifest, translator, partition,
        emit_only=set(selected) if subset else None, kept_rows=plan.kept_rows, timings=book,
        timeline=(timeline, f"{simulation}: dbt nodes per thread, threads {threads}", threads),
        result_keys=[translator.get_asset_key(by_name[n]) for n in (SNAPSHOT_MODEL, SUMMARY_MODEL)],
    )  # fmt: skip
    try:
        yield from years.events()
    except (YearFailedError, DbtWorkerError) as error:
        dbt.stop_workers()  # the worker holds the database
        remove_interrupted_years(database_path, context.log.info)
        raise dg.Failure(description=str(error)) from None
    dbt.stop_workers()  # the database is the step's again
    restore_later_years(
        database_path, plan,
        (Path(publish["results_dir"]), list(publish["tables"]),
         {**publish["writer"], "pid": os.getpid()}),
        lock_wait_seconds, context.log.info,
    )  # fmt: skip
    book.record_or_warn(context, simulation, config.n_employees, threads)
    fingerprint, stored = database_fingerprint(database_path)
    fingerprint_tag = f"{TAG_PREFIX}fingerprint" + (f"/{simulation}" if shared_run else "")
    _add_run_tags(context, {fingerprint_tag: fingerprint})
    context.log.info(
        f"Simulation fingerprint {fingerprint} (every stored year: {stored[0]}-{stored[-1]})"
    )
