"""all_scenarios on the Dask cluster: the same outputs as in thread mode, scenarios spread out."""

from pathlib import Path

import dagster as dg
import pytest

from orch_assets.partitions import SCENARIOS
from orch_assets.resources import DATABASE_FILE_NAME
from tests.test_executor.test_dask.test_dask_mode import workers_of_steps
from tests.test_scenarios.helpers import run_all_scenarios

# One local cluster (a session fixture) for every dask test: they run on one xdist worker.
pytestmark = pytest.mark.xdist_group("dask")

SHAPE = {"n_employees": 1000, "start_year": 2025, "end_year": 2026}


def test_all_scenarios_on_the_cluster_equal_thread_mode_and_use_both_workers(
    instance: dg.DagsterInstance, tmp_path: Path, dask_address: str
) -> None:
    threaded = run_all_scenarios(instance, tmp_path / "threads", **SHAPE)
    on_dask = run_all_scenarios(
        instance,
        tmp_path / "dask",
        **SHAPE,
        execution={"config": {"mode": "dask", "dask": {"address": dask_address}}},
    )

    assert threaded.success and on_dask.success
    tags = {
        result.run_id: instance.get_run_by_id(result.run_id).tags  # type: ignore[union-attr]
        for result in (threaded, on_dask)
    }
    for scenario in SCENARIOS:
        key = f"orch/fingerprint/{scenario.simulation}"
        assert tags[on_dask.run_id][key] == tags[threaded.run_id][key], scenario.name
        assert (tmp_path / "dask" / scenario.simulation / DATABASE_FILE_NAME).exists()
    assert tags[on_dask.run_id]["orch/mode"] == "dask"
    assert len(set(workers_of_steps(instance, on_dask.run_id).values())) == 2
