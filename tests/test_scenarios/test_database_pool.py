"""A scenario partition's step waits for its database's pool instead of failing on the file lock.

Real parts: an instance whose pools default to one slot (as dagster_home/dagster.yaml sets), its
own concurrency-slot storage, and the scenario_simulation job through execute_job. The test holds
the pool as another run's step would, sees the step wait, releases the slot and sees the run
finish.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from orch_assets.resources import DATABASE_FILE_NAME
from tests.test_scenarios.helpers import run_one_scenario

SCENARIO = "low_merit"
POOL = f"duckdb/scenario_{SCENARIO}"
HOLDER = ("holder-run", "holder-step")
TIMEOUT_S = 120

# Daemons and held pools: one such test at a time (tests/conftest.py).
pytestmark = pytest.mark.xdist_group("daemon")


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
    """Waits for the step to report the held pool, checks nothing is written, frees the slot."""
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            waiting = [m for m in _messages(instance) if m.startswith(f"Waiting for pool {POOL}")]
            if waiting:
                seen["waiting"] = waiting[0]
                time.sleep(1.5)
                seen["written while waiting"] = database.exists()
                return
            time.sleep(0.2)
    finally:
        instance.event_log_storage.free_concurrency_slot_for_step(*HOLDER)


@pytest.mark.timeout(TIMEOUT_S * 2)
def test_a_scenario_run_waits_while_another_step_holds_its_database_pool(
    pooled_instance: dg.DagsterInstance, tmp_path: Path
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

    result = run_one_scenario(pooled_instance, tmp_path, SCENARIO)
    releaser.join(timeout=10)

    assert "waiting" in seen, "the step never waited for the held pool"
    assert "held by run holder-run step holder-step" in str(seen["waiting"])
    assert seen["written while waiting"] is False, "nothing is written while the pool is held"
    assert result.success
    assert any(m.startswith(f"Pool {POOL} claimed after") for m in _messages(pooled_instance))
    assert database.exists()
    assert storage.get_concurrency_info(POOL).claimed_slots == [], "the step released its slot"
