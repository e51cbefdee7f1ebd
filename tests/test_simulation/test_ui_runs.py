"""Runs launched as the UI launches them: a cancel frees the database's pool slot at once in
process mode too, and a SIGKILLed thread-mode run is ended by the sensor with its slots freed.

Real parts: a real instance whose pools default to one slot, runs launched and terminated
through GraphQL (each run a child process of a `dagster api grpc` code server), the dbt worker,
DuckDB, psutil and real signals. Before this, a process-mode cancel kept the slot 45-60 s (until
the daemon freed it), and a UI-launched thread-mode run recorded the code server as its process,
so the sensor never saw it die.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psutil
import pytest

from orch_assets.resources import database_pool
from orch_assets.sensors import orch_dead_runs
from orch_assets.simulation.liveness import HOLDER_TAG_PREFIX, RUN_PROCESS_TAG, decode_all
from tests.test_simulation.ui import UI, ui, ui_instance, wait_for_log, wait_for_status

POOL = database_pool("baseline")
STEP = "workforce_models"


@pytest.fixture(scope="module")
def launchpad() -> Iterator[tuple[dg.DagsterInstance, UI]]:
    with (
        ui_instance({"concurrency": {"pools": {"default_limit": 1}}}) as instance,
        ui(instance) as launched,
    ):
        yield instance, launched


def _launch_and_wait_for_dbt(
    launchpad: tuple[dg.DagsterInstance, UI], data_dir: Path, mode: str
) -> str:
    """A one-year simulation in ``mode``, once its dbt worker has built a model (pool held)."""
    instance, launched = launchpad
    run_id = launched.launch(
        "workforce_simulation",
        {
            "n_employees": 300, "start_year": 2025, "end_year": 2025, "threads": 1,
            "execution": {"config": {"mode": mode}},
            "resources": {"simulation_store": {"config": {"data_dir": str(data_dir)}}},
        },
    )  # fmt: skip
    wait_for_log(instance, run_id, lambda m: m.startswith("[2025]") and "model " in m)
    assert _claimed(instance) == [run_id]
    return run_id


def _claimed(instance: dg.DagsterInstance) -> list[str]:
    return [s.run_id for s in instance.event_log_storage.get_concurrency_info(POOL).claimed_slots]


def _seconds_until_free(instance: dg.DagsterInstance, since: float, limit_s: float) -> float:
    while _claimed(instance) and time.monotonic() - since < limit_s:
        time.sleep(0.1)
    return time.monotonic() - since


@pytest.mark.timeout(600)
def test_a_cancel_in_process_mode_frees_the_database_pool_slot_at_once(
    launchpad: tuple[dg.DagsterInstance, UI], tmp_path: Path
) -> None:
    instance, launched = launchpad
    run_id = _launch_and_wait_for_dbt(launchpad, tmp_path, "process")

    cancelled = time.monotonic()
    launched.terminate(run_id)

    assert wait_for_status(instance, run_id) == dg.DagsterRunStatus.CANCELED
    assert _seconds_until_free(instance, cancelled, 30) < 5, (
        f"{POOL} still held by {_claimed(instance)}"
    )


@pytest.mark.timeout(600)
def test_a_sigkilled_thread_mode_run_launched_from_the_ui_is_ended_by_the_sensor_and_its_slot_freed(
    launchpad: tuple[dg.DagsterInstance, UI], tmp_path: Path
) -> None:
    instance, _ = launchpad
    run_id = _launch_and_wait_for_dbt(launchpad, tmp_path, "thread")
    tags = instance.get_run_by_id(run_id).tags
    (run_process,) = decode_all(tags[RUN_PROCESS_TAG])
    step_process, dbt_worker = decode_all(tags[HOLDER_TAG_PREFIX + STEP])
    assert run_process == step_process, "thread mode: the step runs in the run's own process"
    code_server = psutil.Process(run_process.pid).parent()
    assert code_server is not None and "grpc" in " ".join(code_server.cmdline()), (
        "the run is a child of the code server, which is not recorded as the run's process"
    )

    os.kill(run_process.pid, signal.SIGKILL)
    psutil.wait_procs([psutil.Process(dbt_worker.pid)], timeout=30)

    result = orch_dead_runs(dg.build_sensor_context(instance=instance))

    assert isinstance(result, dg.SkipReason)
    said = result.skip_message or ""
    # The code server may see its child die and fail the run first; then the sensor frees the slot.
    run = instance.get_run_by_id(run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
    assert f"Freed pool {POOL}: run {run_id} ended (FAILURE)" in said, said
    assert f"pid {run_process.pid} on this host" in said
    assert _claimed(instance) == []
