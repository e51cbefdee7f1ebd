"""Runs of the implicit asset job carry the orch/database tag before they are queued.

`dagster job launch` of the asset job goes through the instance's run coordinator (the
repository's dagster.yaml in a temporary DAGSTER_HOME) and leaves the run QUEUED: no daemon runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from orch_assets.definitions import defs
from orch_assets.run_coordinator import DatabaseTagRunCoordinator, databases_written
from tests.conftest import REPO_ROOT


def test_an_asset_job_run_is_queued_under_the_database_tag_of_the_ops_that_write(
    dagster_home: Path, cli_env: dict[str, str]
) -> None:
    launched = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "job", "launch", "-m",
         "orch_assets.definitions", "-j", "__ASSET_JOB"],
        env=cli_env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    assert launched.returncode == 0, launched.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert isinstance(instance.run_coordinator, DatabaseTagRunCoordinator)
        (run,) = instance.get_runs()
    assert run.status == dg.DagsterRunStatus.QUEUED
    assert run.tags["orch/database"] == "baseline"


@pytest.mark.parametrize(
    ("asset", "databases"),
    [("fct_workforce_snapshot", {"baseline"}), ("orch_runtime_report", set())],
    ids=["baseline-model", "no-simulation-database"],
)
def test_a_selection_of_assets_writes_the_databases_of_its_ops_only(
    instance: dg.DagsterInstance, asset: str, databases: set[str]
) -> None:
    run = instance.create_run_for_job(
        job_def=defs.resolve_implicit_global_asset_job_def(),
        asset_selection=frozenset({dg.AssetKey.from_user_string(asset)}),
    )

    assert databases_written(instance, run) == databases
