"""mode: dask on a cluster as operators deploy it: `dask worker` defaults, `--no-nanny`, and a
run process that dies (SIGKILL) while its steps run on the workers."""

import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psutil
import pytest
import yaml

from tests.test_executor import jobs
from tests.test_executor.support import (
    events_of,
    failure_messages,
    max_overlap,
    run,
    step_intervals,
)
from tests.test_executor.test_dask import dask_jobs, run_kill_jobs
from tests.test_executor.test_dask.conftest import NO_NANNY_MEMORY_GB, REPO_ROOT, DaskTestCluster
from tests.test_executor.test_dask.test_dask_mode import dask_config, workers_of_steps

# One local cluster (a package fixture) for every dask test: they run on one xdist worker.
pytestmark = pytest.mark.xdist_group("dask")

ZYGOTE_MODULE = "orch_assets.executor.zygote"
STEPS_GONE_WITHIN_S = 15.0
SIXTEEN_STEPS_WALL_S = 4.0
"""On an otherwise idle 2-core machine; scaled by the load of a shared one (see below)."""


def wall_bound(idle_bound_s: float, load: float) -> float:
    """``idle_bound_s`` times the runnable processes per core (``load``, plus one: the other
    xdist worker of the suite runs beside this test, and the one-minute load average lags its
    bursts), at least 1.

    The machine running the suite is shared: with 12 runnable processes on 2 cores a step gets a
    sixth of a core, and a wall-clock bound for an idle machine says nothing about the code.
    (A fresh-clone CI run measured 4.07 s against a bound of 4.0 s at a load average below 2.)
    """
    return idle_bound_s * max(1.0, (load + 1) / (os.cpu_count() or 1))


def _is_daemon() -> bool:
    return multiprocessing.current_process().daemon


def run_wall(instance: dg.DagsterInstance, run_id: str) -> float:
    """RUN_START -> RUN_SUCCESS of a run, from its events."""
    (start,) = events_of(instance, run_id, dg.DagsterEventType.RUN_START)
    (end,) = events_of(instance, run_id, dg.DagsterEventType.RUN_SUCCESS)
    return end.timestamp - start.timestamp


def test_sixteen_one_second_steps_run_eight_or_more_at_once_on_daemon_workers_within_4_s(
    executor_instance: dg.DagsterInstance, dask_cluster: DaskTestCluster, dask_address: str
) -> None:
    from distributed import Client

    with Client(dask_address, set_as_default=False) as client:
        daemon = client.run(_is_daemon)
    assert list(daemon.values()) == [True, True], "workers run as `dask worker` starts them"
    load_before = os.getloadavg()[0]

    result = run(
        executor_instance, dask_jobs.sixteen_naps_job, dask_config(dask_address, max_concurrent=16)
    )
    # The load while the run ran: the other xdist worker's tests start and stop during it.
    bound = wall_bound(SIXTEEN_STEPS_WALL_S, max(load_before, os.getloadavg()[0]))

    assert result.success
    intervals = step_intervals(executor_instance, result.run_id)
    assert len(intervals) == 16
    assert max_overlap(intervals.values()) >= 8
    assert run_wall(executor_instance, result.run_id) <= bound
    assert len(set(workers_of_steps(executor_instance, result.run_id).values())) == 2


def test_a_no_nanny_worker_runs_a_step_and_kills_it_at_its_timeout_without_dying(
    executor_instance: dg.DagsterInstance, work_dir: Path, dask_address: str, no_nanny_worker: str
) -> None:
    """Only the `--no-nanny` worker declares enough orch_memory_gb for this step."""
    from distributed import Client

    result = run(
        executor_instance,
        jobs.timeout_job,
        dask_config(dask_address, step_timeout_s=1.5, memory_per_step_gb=NO_NANNY_MEMORY_GB / 2),
        ops={"hang": {"config": {"how": "subprocess", "seconds": 30.0}}},
    )

    assert not result.success
    assert workers_of_steps(executor_instance, result.run_id) == {"hang": no_nanny_worker}
    assert "timed out" in failure_messages(executor_instance, result.run_id)["hang"]
    try:
        child = psutil.Process(int((work_dir / "child.pid").read_text()))
    except psutil.NoSuchProcess:
        child = None  # already killed and reaped
    if child is not None:
        assert not psutil.wait_procs([child], timeout=5)[1], "the step's subprocess was killed"
    with Client(dask_address, set_as_default=False) as client:
        assert no_nanny_worker in client.scheduler_info(n_workers=-1)["workers"], "worker alive"
        assert client.run(_is_daemon, workers=[no_nanny_worker]) == {no_nanny_worker: False}


def _step_processes(cluster: DaskTestCluster) -> list[psutil.Process]:
    """Every process a worker's zygote forked (the steps), with their descendants."""
    found: list[psutil.Process] = []
    for root in cluster.processes:
        try:
            tree = psutil.Process(root.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        for process in tree:
            try:
                if ZYGOTE_MODULE in " ".join(process.cmdline()):
                    found += process.children(recursive=True)
            except psutil.NoSuchProcess:
                continue
    return found


def _wait_for(path: Path, run: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert run.poll() is None, f"the run ended early:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.2)


def _ticking_config(folder: Path, address: str, seconds: float) -> dict[str, object]:
    tick = {"config": {"dir": str(folder), "seconds": seconds}}
    return {
        "ops": {"write_database": tick, "keep_ticking": tick},
        "execution": {"config": dask_config(address)},
    }


@pytest.mark.timeout(300)
def test_a_sigkilled_run_process_stops_its_steps_on_the_workers_and_the_next_run_takes_the_pool(
    cli_env: dict[str, str],
    dagster_home: Path,
    tmp_path: Path,
    dask_cluster: DaskTestCluster,
    dask_address: str,
) -> None:
    killed_dir, next_dir = tmp_path / "killed", tmp_path / "next"
    killed_dir.mkdir()
    next_dir.mkdir()
    config = tmp_path / "killed.yaml"
    config.write_text(yaml.safe_dump(_ticking_config(killed_dir, dask_address, 120.0)))
    command = [str(Path(sys.executable).with_name("dagster")), "job", "execute",
               "-m", run_kill_jobs.__name__, "-j", "ticking_job", "-c", str(config)]  # fmt: skip
    log = tmp_path / "killed_run.log"
    with log.open("w") as output:
        run_process = subprocess.Popen(
            command, env=cli_env, cwd=REPO_ROOT, stdout=output, stderr=output,
            start_new_session=True,
        )  # fmt: skip
    try:
        for name in ("write_database", "keep_ticking"):
            _wait_for(killed_dir / f"{name}.ticks", run_process, log, timeout=120)
        steps = [psutil.Process(int((killed_dir / f"{n}.pid").read_text())) for n in
                 ("write_database", "keep_ticking")]  # fmt: skip
        os.kill(run_process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        run_process.wait()
    finally:
        if run_process.poll() is None:
            run_process.kill()
            run_process.wait()

    remaining = killed_at + STEPS_GONE_WITHIN_S - time.monotonic()
    gone, alive = psutil.wait_procs(steps, timeout=remaining)
    assert not alive, f"step processes outlived their run by {STEPS_GONE_WITHIN_S:g} s"
    while _step_processes(dask_cluster) and time.monotonic() < killed_at + STEPS_GONE_WITHIN_S:
        time.sleep(0.2)
    assert not _step_processes(dask_cluster), "no step process is left on any worker"
    assert len(gone) == 2
    ticks = {p: p.stat().st_size for p in killed_dir.glob("*.ticks")}
    time.sleep(0.5)
    assert {p: p.stat().st_size for p in ticks} == ticks, "nothing more is written"

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        (killed,) = instance.get_runs()
        storage = instance.event_log_storage
        assert storage.get_concurrency_info(run_kill_jobs.DATABASE_POOL).claimed_slots, "still held"
        result = dg.execute_job(
            dg.reconstructable(run_kill_jobs.ticking_job),
            instance=instance,
            run_config=_ticking_config(next_dir, dask_address, 0.3),
        )
        assert result.success
        messages = [e for e in instance.all_logs(result.run_id) if e.user_message]
        freed = [e for e in messages if e.user_message.startswith("Freed pool")]
        assert len(freed) == 1 and freed[0].level == logging.INFO
        assert f"held by run {killed.run_id}" in freed[0].user_message
        assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE  # type: ignore[union-attr]
        assert not storage.get_concurrency_info(run_kill_jobs.DATABASE_POOL).claimed_slots
