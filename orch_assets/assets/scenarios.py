"""Scenario simulations as assets: one partition per scenario, one DuckDB file per scenario.

``scenario_models`` is the dbt project a second time, keys prefixed ``scenarios/``, partitioned by
scenario: one scenario can be materialized or backfilled alone. ``scenario_op`` builds the op of
one scenario for the ``all_scenarios`` job (several scenarios in one run, in parallel); it logs
materializations of the same partitioned assets. ``scenario_comparison`` reads every scenario's
database read-only and compares them per year.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import dbt_assets
from pydantic import Field

from orch_assets.config import InputChangePolicy, SimulationConfig
from orch_assets.dbt.translator import EXECUTION_CLASS_TAG
from orch_assets.partitions import SCENARIOS_BY_NAME, scenario_partitions
from orch_assets.project import WorkforceTranslator, workforce_dbt_project
from orch_assets.resources import POOL_TAG, SimulationStore
from orch_assets.scenarios import Scenario
from orch_assets.simulation import run_simulation

SCENARIO_KEY_PREFIX = "scenarios"
SCENARIO_GROUP = "scenarios"


class ScenarioTranslator(WorkforceTranslator):
    """The baseline translator's tags, keys under ``scenarios/``, one asset group."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        return super().get_asset_key(dbt_resource_props).with_prefix(SCENARIO_KEY_PREFIX)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return SCENARIO_GROUP


class ScenarioRunConfig(dg.Config):
    """The run's shape, shared by every scenario; the scenario file holds the assumptions."""

    start_year: int | None = Field(default=None, description="First year; unset: the scenario's.")
    end_year: int | None = Field(default=None, description="Last year; unset: the scenario's.")
    n_employees: int | None = Field(default=None, description="Census size; unset: the scenario's.")
    random_seed: int | None = Field(default=None, description="Seed; unset: the scenario's.")
    threads: Any = Field(default=None, description="dbt threads 1-16 or 'auto'; unset: auto.")
    on_input_change: InputChangePolicy = Field(
        default="refuse",
        description="When the database holds other inputs: 'refuse' the run, or 'rebuild' it.",
    )

    def simulation_config(self, scenario: Scenario) -> SimulationConfig:
        """Validated (types and ranges), with the scenario's parameters underneath."""
        return scenario.config(**self.model_dump())


def _simulate(
    context: dg.AssetExecutionContext | dg.OpExecutionContext,
    scenario: Scenario,
    config: ScenarioRunConfig,
    store: SimulationStore,
    shared_run: bool,
) -> Iterator[dg.Output | dg.AssetMaterialization]:
    try:
        simulation_config = config.simulation_config(scenario)
    except ValueError as error:
        raise dg.Failure(f"scenario {scenario.name}: invalid run config: {error}") from None
    yield from run_simulation(
        context,
        simulation_config,
        store.database_path(scenario.simulation),
        scenario.simulation,
        translator=ScenarioTranslator(),
        partition=scenario.name,
        shared_run=shared_run,
        lock_wait_seconds=store.reader_wait_seconds,
        writer_wait_seconds=store.writer_wait_seconds,
    )


@dbt_assets(
    manifest=workforce_dbt_project.manifest_path,
    project=workforce_dbt_project,
    dagster_dbt_translator=ScenarioTranslator(),
    name="scenario_models",
    partitions_def=scenario_partitions,
    # A backfill launches one run per scenario: each step writes exactly one database.
    backfill_policy=dg.BackfillPolicy.multi_run(1),
)
def scenario_models(
    context: dg.AssetExecutionContext, config: ScenarioRunConfig, simulation_store: SimulationStore
) -> Iterator[dg.Output | dg.AssetMaterialization]:
    """Simulates the partition's scenario into its own database, years in order."""
    scenario = SCENARIOS_BY_NAME[context.partition_key]
    yield from _simulate(context, scenario, config, simulation_store, shared_run=False)


def scenario_op_name(scenario: Scenario) -> str:
    return f"simulate_{scenario.name}"


def scenario_op(scenario: Scenario) -> dg.OpDefinition:
    """The op of one scenario in a multi-scenario run.

    Its pool (``duckdb/scenario_<name>``, claimed by the step, named by the op tag ``orch/pool``)
    admits one writer per scenario database across runs; ``parallel_safe`` lets the adaptive
    executor run it beside the other scenarios' ops.
    """

    @dg.op(
        name=scenario_op_name(scenario),
        description=f"Scenario {scenario.name}: {scenario.description}",
        out={},
        tags={
            EXECUTION_CLASS_TAG: "parallel_safe",
            "orch/scenario": scenario.name,
            POOL_TAG: scenario.pool,
        },
    )
    def simulate(
        context: dg.OpExecutionContext, config: ScenarioRunConfig, simulation_store: SimulationStore
    ) -> Iterator[dg.AssetMaterialization]:
        for event in _simulate(context, scenario, config, simulation_store, shared_run=True):
            if isinstance(event, dg.AssetMaterialization):
                yield event

    return simulate
