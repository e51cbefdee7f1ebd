"""Resources: where simulation databases live."""

from __future__ import annotations

import os
import re
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from orch_assets.project import REPO_ROOT

# The profile's relative database path (dbt_project/profiles.yml): the simulation's dbt worker
# runs in the simulation's directory, so simulations differ by directory and share dbt's
# partial-parse state.
DATABASE_FILE_NAME = "workforce.duckdb"

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
    reader_wait_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="How long a simulation waits, at start, for another process (a notebook, a "
        "reader) that holds its database, before failing with the holder's pid. 0..3600.",
    )
    writer_wait_seconds: float = Field(
        default=1800.0,
        ge=0,
        le=86400,
        description="How long a simulation waits for another run writing the same database (one "
        "writer per database, whatever the Dagster instance), before failing with nothing "
        "written. 0..86400.",
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

    def reader(self, simulation: str) -> DuckDBResource:
        """Read-only access to a simulation's database (short-lived: one ``get_connection()``).

        DuckDB refuses every open while another process writes the file; DuckDBResource retries
        that for ~100 s. Callers that must not wait check for a writer first
        (:func:`orch_assets.simulation.readers.writer_of`).
        """
        return DuckDBResource(
            database=str(self.database_path(simulation)),
            connection_config={"access_mode": "READ_ONLY"},
        )
