"""Runtime history, the runtime report built from it, and the determinism check."""

from typing import Any

import dagster as dg
from pydantic import Field

from orch_assets.runtime.chart import png_markdown
from orch_assets.runtime.determinism import check_determinism
from orch_assets.runtime.observation import RUNTIME_HISTORY_KEY
from orch_assets.runtime.recommend import (
    DEFAULT_TIE_TOLERANCE,
    default_memory_budget_bytes,
    machine_key,
    recommendation_record,
)
from orch_assets.runtime.report import build_report, rows_for_determinism, select_runs
from orch_assets.runtime.store import RuntimeStore

RUNTIME_GROUP = "runtime"
GIB = 1024**3

orch_runtime_history = dg.AssetSpec(
    RUNTIME_HISTORY_KEY,
    group_name=RUNTIME_GROUP,
    description=(
        "One row per finished run of any job (table `runs` of orch_runtime/runtime.duckdb under "
        "the Dagster home), written by the orch_runtime_recorder sensor and by sweeps; each "
        "recorded run is an observation of this asset."
    ),
)


class RuntimeReportConfig(dg.Config):
    """Which runs the report covers and how it chooses."""

    sweep_id: str | None = Field(
        default=None,
        description="Report this sweep. Unset: the latest sweep; no sweep yet: the runs with the "
        "inputs of the latest successful run.",
    )
    memory_budget_gb: float | None = Field(
        default=None,
        description="Peak RSS a recommended configuration may use. Unset: 80% of this "
        "machine's RAM.",
    )
    tie_tolerance: float = Field(
        default=DEFAULT_TIE_TOLERANCE,
        description="Least tie tolerance: configurations within max(this, the repeats' measured "
        "noise) of the fastest median wall tie, and a tie goes to fewer threads.",
    )


@dg.asset(
    key="orch_runtime_report",
    group_name=RUNTIME_GROUP,
    deps=[orch_runtime_history],
    description="Per thread configuration: median wall, speedup vs threads=1, efficiency, peak "
    "RSS; the recommended configuration; whether outputs were identical; a chart.",
)
def orch_runtime_report(
    context: dg.AssetExecutionContext, config: RuntimeReportConfig, runtime_store: RuntimeStore
) -> dg.MaterializeResult:
    table = runtime_store.table(context.instance)
    selection = select_runs(table, config.sweep_id)
    if selection is None:
        raise dg.Failure(
            f"No recorded runs to report in {table.path}"
            + (f" for sweep {config.sweep_id!r}" if config.sweep_id else "")
            + ": run `orch-assets sweep` or let the orch_runtime_recorder sensor record runs."
        )
    budget = (
        int(config.memory_budget_gb * GIB)
        if config.memory_budget_gb
        else default_memory_budget_bytes()
    )
    report = build_report(selection, table.directory / "reports", budget, config.tie_tolerance)
    chart = png_markdown(report.chart_path) if report.chart_path else ""
    workload, recommendation = report.workload, report.recommendation
    if recommendation is not None and workload is not None and recommendation.chosen.dbt_threads:
        hosts = {machine_key(r.host, r.cpu_count) for r in selection.rows}
        for host in hosts:
            table.save_recommendation(
                recommendation_record(recommendation, host, *workload, source=selection.label)
            )
    context.log.info(report.markdown())
    metadata: dict[str, Any] = {
        "report": dg.MetadataValue.md(report.markdown(chart)),
        "runs": len(selection.rows),
        "configurations": len(report.summaries),
        "determinism": report.determinism.statement(),
        "selection": selection.label,
        "evidence": "enough" if report.evidence.enough else str(report.evidence.missing),
        "runtime_database": dg.MetadataValue.path(str(table.path)),
    }
    if report.evidence.sweep_command is not None:
        metadata["sweep_command"] = report.evidence.sweep_command
    if report.chart_path is not None:
        metadata["chart"] = dg.MetadataValue.path(str(report.chart_path))
    if recommendation is not None:
        metadata["recommended_configuration"] = recommendation.chosen.configuration
        metadata["recommended_median_wall_seconds"] = recommendation.chosen.median_wall_seconds
        if recommendation.chosen.dbt_threads is not None:
            metadata["recommended_threads"] = recommendation.chosen.dbt_threads
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(
    asset=orch_runtime_report,
    name="outputs_identical_across_thread_configurations",
    description="Fails when recorded runs with the same inputs (job, code version, run config "
    "without threads, executor and resources) have different output fingerprints; names them.",
)
def outputs_identical_across_thread_configurations(
    context: dg.AssetCheckExecutionContext, runtime_store: RuntimeStore
) -> dg.AssetCheckResult:
    result = check_determinism(rows_for_determinism(runtime_store.table(context.instance)))
    metadata: dict[str, Any] = {
        "statement": dg.MetadataValue.md(result.statement()),
        "sets_of_inputs": result.groups,
        "sets_compared_across_configurations": result.compared_groups,
        "fingerprinted_runs": result.runs,
    }
    if result.mismatches:
        metadata["mismatched_runs"] = sorted(
            row.run_id
            for mismatch in result.mismatches
            for runs in mismatch.runs_by_fingerprint.values()
            for row in runs
        )
    return dg.AssetCheckResult(passed=result.passed, metadata=metadata)


def materialize_runtime_report(
    instance: dg.DagsterInstance,
    sweep_id: str | None = None,
    runtime_store: RuntimeStore | None = None,
    **report_config: object,
) -> dg.ExecuteInProcessResult:
    """Materializes the report and runs the check through ``instance`` (a run shown in the UI)."""
    return dg.materialize(
        [orch_runtime_report, outputs_identical_across_thread_configurations],
        instance=instance,
        resources={"runtime_store": runtime_store or RuntimeStore()},
        run_config={
            "ops": {"orch_runtime_report": {"config": {"sweep_id": sweep_id, **report_config}}}
        },
        raise_on_error=False,
    )
