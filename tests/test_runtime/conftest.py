"""One real sweep, through the CLI, shared by the runtime tests: two thread settings, one run
each, at a tiny census, in a temporary DAGSTER_HOME; plus one real run that fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import REPO_ROOT
from tests.test_simulation.helpers import census_csv, run_simulation

SWEEP_THREADS = "1,2"
# Scenario parameters reach every run of the sweep through --config.
SCENARIO = "merit_pct: 0.04\n"


@dataclass(frozen=True)
class Swept:
    home: Path
    instance: dg.DagsterInstance
    stdout: str
    returncode: int
    seconds: float
    failed_run_id: str


@pytest.fixture(scope="session")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swept]:
    home = tmp_path_factory.mktemp("runtime_home")
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    scenario = home / "scenario.yaml"
    scenario.write_text(SCENARIO)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env["DAGSTER_HOME"] = str(home)
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "orch_assets.cli", "sweep", "--threads", SWEEP_THREADS,
         "--repeats", "1", "--n-employees", "1000", "--start-year", "2025", "--end-year", "2025",
         "--config", str(scenario)],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    seconds = time.monotonic() - started
    # A census row hired after the census date: the run starts, its step fails before dbt.
    bad_census = census_csv(home / "bad_census.csv", [{"hire_date": "2030-01-01"}])
    with dg.DagsterInstance.from_config(str(home)) as instance:
        failed = run_simulation(
            instance, home / "failed_data", n_employees=1000, start_year=2025, end_year=2025,
            census_file=str(bad_census), threads=2,
        )  # fmt: skip
        assert not failed.success
        yield Swept(home, instance, completed.stdout, completed.returncode, seconds, failed.run_id)
