"""A scenario partition run on the cluster claims its database's pool on the run's instance.

Mirrors tests/test_scenarios/test_database_pool.py (thread mode), cheaply: the test holds the
pool as another run's step would; the step on a Dask worker must wait for it (the claim goes
through the run process), and the slot is free again when the run ends.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from orch_assets.resources import DATABASE_FILE_NAME
from orch_assets.simulation.liveness import RUN_PROCESS_TAG, ProcessId
from tests.test_scenarios.helpers import scenario_simulation_job, store_config

SCENARIO = "low_merit"
POOL = f"duckdb/scenario_{SCENARIO}"
HOLDER = ("holder-run", "holder-step")
SHAPE = {"n_employees": 200, "start_year": 2025, "end_year": 2025}
TIMEOUT_S = 120

# One local cluster (a session fixture) for every dask test: they run on one xdist worker.
pytestmark = pytest.mark.xdist_group("dask")


@pytest.fixture
def pooled_instance() -> Iterator[dg.DagsterInstance]:
    overrides = {"concurrency": {"pools": {"default_limit": 1}}}
    with dg.instance_for_test(overrides=overrides) as instance:
        yield instance


def _messages(instance: dg.DagsterInstance) -> list[str]:
    return [e.user_message for r in instance.get_runs() for e in instance.all_logs(r.run_id)]


def _release_once_waiting(
    instance: dg.DagsterInstance, database: Path, seen: dict[str, object]
) -> None:
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            waiting = [m for m in _messages(instance) if m.startswith(f"Waiting for pool {POOL}")]
            if waiting:
                seen["waiting"] = waiting[0]
                time.sleep(1.0)
                seen["written while waiting"] = database.exists()
                return
            time.sleep(0.2)
    finally:
        instance.event_log_storage.free_concurrency_slot_for_step(*HOLDER)


@pytest.mark.timeout(TIMEOUT_S * 2)
def test_a_scenario_step_on_a_worker_waits_while_another_run_holds_its_database_pool(
    pooled_instance: dg.DagsterInstance, tmp_path: Path, dask_address: str
) -> None:
    storage = pooled_instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(POOL)
    assert storage.claim_concurrency_slot(POOL, *HOLDER).is_claimed
    database = tmp_path / f"scenario_{SCENARIO}" / DATABASE_FILE_NAME
    seen: dict[str, object] = {}
    releaser = threading.Thread(
        target=_release_once_waiting, args=(pooled_instance, database, seen), daemon=True
    )
    releaser.start()

    result = dg.execute_job(
        dg.reconstructable(scenario_simulation_job),
        instance=pooled_instance,
        run_config={
            "ops": {"scenario_models": {"config": SHAPE}},
            "resources": store_config(tmp_path),
            "execution": {"config": {"mode": "dask", "dask": {"address": dask_address}}},
        },
        tags={"dagster/partition": SCENARIO},
    )
    releaser.join(timeout=10)

    assert "waiting" in seen, "the step never waited for the held pool"
    assert "held by run holder-run step holder-step" in str(seen["waiting"])
    assert seen["written while waiting"] is False, "nothing is written while the pool is held"
    assert result.success
    messages = _messages(pooled_instance)
    assert any(m.startswith(f"Pool {POOL} claimed after") for m in messages)
    assert not any("not queued by pool" in m for m in messages)
    assert database.exists()
    assert storage.get_concurrency_info(POOL).claimed_slots == [], "the step released its slot"
    tags = pooled_instance.get_run_by_id(result.run_id).tags  # type: ignore[union-attr]
    run_process = ProcessId.decode(tags[RUN_PROCESS_TAG])
    assert run_process is not None and run_process.pid == os.getpid(), "not the Dask worker"
