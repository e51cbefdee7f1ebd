"""Checks run by a simulation step before it writes anything: the census rows and the data dir.

Each failure is a ``dagster.Failure`` whose message is one line naming the option (``census_file``,
``simulation_store.data_dir``) and what is wrong, instead of a dbt test name or "dbt worker
exited with code 1" after the worker has started.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dagster as dg

from orch_assets.config import SimulationConfig
from orch_assets.simulation.census import CensusError, check_census


def check_data_dir(database_path: Path) -> None:
    """The simulation's directory exists or can be made, and files can be created in it."""
    directory = database_path.parent
    data_dir = directory.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory, prefix=".write-check-"):
            pass
        if database_path.exists() and not os.access(database_path, os.W_OK):
            raise PermissionError(f"{database_path} is read-only")
    except OSError as error:
        reason = f"{error.strerror}: {error.filename}" if error.strerror else str(error)
        raise dg.Failure(
            f"simulation_store.data_dir {data_dir} is not writable ({reason}); set "
            "resources.simulation_store.config.data_dir or ORCH_DATA_DIR to a writable directory"
        ) from None


def check_before_writing(config: SimulationConfig, database_path: Path) -> None:
    """Every check that needs the run's files; raises ``dg.Failure`` with one line."""
    if config.census_file:
        try:
            check_census(Path(config.census_file).expanduser().resolve(), config.start_year)
        except CensusError as error:
            raise dg.Failure(str(error)) from None
    check_data_dir(database_path)
