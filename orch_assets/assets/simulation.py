"""The dbt models of the workforce simulation as Dagster assets (one step, all years)."""

from collections.abc import Iterator

import dagster as dg
from dagster_dbt import dbt_assets

from orch_assets.config import SimulationConfig
from orch_assets.project import WorkforceTranslator, workforce_dbt_project
from orch_assets.resources import POOL_TAG, SimulationStore, database_pool
from orch_assets.run_coordinator import DATABASE_TAG
from orch_assets.simulation import run_simulation

BASELINE_SIMULATION = "baseline"
# Pools are per DuckDB file: one writing step per database, across runs (dagster_home/dagster.yaml).
# The step claims it itself (orch_assets/simulation/pool.py); the op tag shows which in the UI.
BASELINE_POOL = database_pool(BASELINE_SIMULATION)


@dbt_assets(
    manifest=workforce_dbt_project.manifest_path,
    project=workforce_dbt_project,
    dagster_dbt_translator=WorkforceTranslator(),
    name="workforce_models",
    # orch/database is read by the run coordinator (orch_assets/run_coordinator.py): an asset-job
    # run of these assets (the UI's Materialize) is queued under the database's run tag.
    op_tags={POOL_TAG: BASELINE_POOL, DATABASE_TAG: BASELINE_SIMULATION},
)
def workforce_models(
    context: dg.AssetExecutionContext, config: SimulationConfig, simulation_store: SimulationStore
) -> Iterator[dg.Output | dg.AssetMaterialization]:
    """Runs every simulation year, strictly in order, in one dbt worker process."""
    yield from run_simulation(
        context,
        config,
        simulation_store.database_path(BASELINE_SIMULATION),
        BASELINE_SIMULATION,
        lock_wait_seconds=simulation_store.reader_wait_seconds,
        writer_wait_seconds=simulation_store.writer_wait_seconds,
        reuse_stored_inputs=True,
    )
