"""all_scenarios on the Dask cluster: the same outputs as in thread mode, scenarios spread out."""

from pathlib import Path

import dagster as dg
import pytest

from orch_assets.partitions import SCENARIOS
from orch_assets.resources import DATABASE_FILE_NAME
from tests.conftest import AllScenariosRun
from tests.test_executor.test_dask.test_dask_mode import workers_of_steps
from tests.test_scenarios.helpers import run_all_scenarios

# One local cluster (a package fixture) for every dask test: they run on one xdist worker.
pytestmark = pytest.mark.xdist_group("dask")


def test_all_scenarios_on_the_cluster_equal_thread_mode_and_use_both_workers(
    instance: dg.DagsterInstance,
    tmp_path: Path,
    dask_address: str,
    all_scenarios_reference: AllScenariosRun,
) -> None:
    """The thread-mode side is the session's all_scenarios run (same shape, dbt threads 4)."""
    on_dask = run_all_scenarios(
        instance,
        tmp_path / "dask",
        threads=4,
        execution={"config": {"mode": "dask", "dask": {"address": dask_address}}},
    )

    assert on_dask.success
    threaded = all_scenarios_reference.instance.get_run_by_id(all_scenarios_reference.run_id)
    assert threaded is not None and threaded.status == dg.DagsterRunStatus.SUCCESS
    assert threaded.tags["orch/mode"] == "thread"
    tags = instance.get_run_by_id(on_dask.run_id).tags  # type: ignore[union-attr]
    for scenario in SCENARIOS:
        key = f"orch/fingerprint/{scenario.simulation}"
        assert tags[key] == threaded.tags[key], scenario.name
        assert (tmp_path / "dask" / scenario.simulation / DATABASE_FILE_NAME).exists()
    assert tags["orch/mode"] == "dask"
    assert len(set(workers_of_steps(instance, on_dask.run_id).values())) == 2
