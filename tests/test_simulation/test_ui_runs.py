"""Runs launched as the UI launches them: a run cancelled while rewriting a middle year leaves
the completed years a prefix, a cancel frees the database's pool slot at once in process mode
too, and a SIGKILLed thread-mode run is ended with its slots freed by the sensor.

Real parts: a real instance whose pools default to one slot, runs launched and terminated
through GraphQL (each run a child process of a `dagster api grpc` code server), the dbt worker,
DuckDB, psutil and real signals. Before this, a run terminated while recomputing 2026 left 2027
complete after an incomplete 2026; a process-mode cancel kept the slot 45-80 s (until the daemon
freed it); and a UI-launched thread-mode run recorded the code server as its process.
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
from tests.test_simulation.helpers import database, query, run_simulation
from tests.test_simulation.ui import UI, ui, ui_instance, wait_for_log, wait_for_status

# One code server for the module: its tests run on one xdist worker.
pytestmark = pytest.mark.xdist_group("ui_runs")

POOL = database_pool("baseline")
STEP = "workforce_models"


@pytest.fixture(scope="module")
def ui_runs() -> Iterator[tuple[dg.DagsterInstance, UI]]:
    with (
        ui_instance({"concurrency": {"pools": {"default_limit": 1}}}) as instance,
        ui(instance) as launched,
    ):
        yield instance, launched


def _launch_and_wait_for_dbt(
    ui_runs: tuple[dg.DagsterInstance, UI], data_dir: Path, mode: str
) -> str:
    """A one-year simulation in ``mode``, once its dbt worker has built a model (pool held)."""
    instance, launched = ui_runs
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
    ui_runs: tuple[dg.DagsterInstance, UI], tmp_path: Path
) -> None:
    instance, launched = ui_runs
    run_id = _launch_and_wait_for_dbt(ui_runs, tmp_path, "process")

    cancelled = time.monotonic()
    launched.terminate(run_id)

    assert wait_for_status(instance, run_id) == dg.DagsterRunStatus.CANCELED
    assert _seconds_until_free(instance, cancelled, 30) < 5, (
        f"{POOL} still held by {_claimed(instance)}"
    )


@pytest.mark.timeout(600)
def test_a_sigkilled_thread_mode_run_launched_from_the_ui_is_ended_by_the_sensor_and_its_slot_freed(
    ui_runs: tuple[dg.DagsterInstance, UI], tmp_path: Path
) -> None:
    instance, _ = ui_runs
    run_id = _launch_and_wait_for_dbt(ui_runs, tmp_path, "thread")
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


def _completed(path: Path) -> list[int]:
    return [year for (year,) in query(path, "select simulation_year from orch_completed_years")]


@pytest.mark.timeout(600)
def test_a_run_cancelled_while_rewriting_a_middle_year_leaves_the_completed_years_a_prefix(
    ui_runs: tuple[dg.DagsterInstance, UI], tmp_path: Path
) -> None:
    instance, launched = ui_runs
    shape = {"n_employees": 300, "start_year": 2025, "threads": 1}
    store = {"resources": {"simulation_store": {"config": {"data_dir": str(tmp_path)}}}}
    assert run_simulation(instance, tmp_path, **shape, end_year=2027).success
    assert _completed(database(tmp_path)) == [2025, 2026, 2027]

    # Same inputs, 2026 again: 2027 would be kept had the run succeeded.
    run_id = launched.launch(
        "workforce_simulation", {**shape, "end_year": 2026, "from_year": 2026, **store}
    )
    wait_for_log(instance, run_id, lambda m: m.startswith("[2026]") and "model " in m)
    launched.terminate(run_id)
    assert wait_for_status(instance, run_id) == dg.DagsterRunStatus.CANCELED

    completed = _completed(database(tmp_path))
    assert completed == [2025], "2026 was being rewritten: neither it nor a later year is complete"
