"""Resources: where simulation databases live."""

from __future__ import annotations

import os
import re
from pathlib import Path

import dagster as dg
from pydantic import Field

from orch_assets.dbt.runner import DATABASE_FILE_NAME
from orch_assets.project import REPO_ROOT

DATA_DIR_ENV_VAR = "ORCH_DATA_DIR"
SIMULATION_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Op tag naming the pool a step claims itself (orch_assets/simulation/pool.py), shown in the UI.
POOL_TAG = "orch/pool"


def database_pool(simulation: str) -> str:
    """The instance pool of a simulation's database: one writing step at a time, across runs."""
    return f"duckdb/{simulation}"


class SimulationStore(dg.ConfigurableResource):
    """Simulation databases: ``<data_dir>/<simulation>/workforce.duckdb``, one file each.

    DuckDB allows one writing process per file, so independent simulations use separate files.
    """

    data_dir: str | None = Field(
        default=None,
        description=f"Directory of simulation databases. Unset: ${DATA_DIR_ENV_VAR}, else ./data "
        "in the repository.",
    )

    def root(self) -> Path:
        configured = self.data_dir or os.environ.get(DATA_DIR_ENV_VAR) or str(REPO_ROOT / "data")
        return Path(configured).expanduser().resolve()

    def simulation_dir(self, simulation: str) -> Path:
        if not SIMULATION_NAME_PATTERN.match(simulation):
            raise ValueError(
                f"simulation name {simulation!r} must match {SIMULATION_NAME_PATTERN.pattern}"
            )
        return self.root() / simulation

    def database_path(self, simulation: str) -> Path:
        return self.simulation_dir(simulation) / DATABASE_FILE_NAME
