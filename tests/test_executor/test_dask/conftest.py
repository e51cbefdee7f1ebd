"""A real Dask cluster on 127.0.0.1 for the dask-mode tests: `dask scheduler` + two `dask worker`.

Started once for the tests of this folder (about 5-10 s on a loaded 2-core machine) and stopped
after the last of them. Workers are started as operators start them, with `dask worker`'s
defaults and no special setting: under their nanny, as daemon processes. So a test that SIGKILLs
a worker process gets it restarted; :func:`dask_address` waits until two workers are back before
each test. :func:`no_nanny_worker` adds a third worker, started with `--no-nanny`, for one test.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
N_WORKERS = 2
THREADS_PER_WORKER = 8
WORKER_MEMORY = "2GB"
WORKER_MEMORY_GIB = 1.86
START_TIMEOUT_S = 120.0
JOB_MODULES = ["tests.test_executor.jobs", "tests.test_executor.test_dask.dask_jobs"]
NO_NANNY_MEMORY_GB = 64
"""The `--no-nanny` worker's memory resource: a step asking for more than the others hold
(``memory_per_step_gb``) can only run there."""


@dataclass
class DaskTestCluster:
    address: str
    processes: list[subprocess.Popen]
    logs: Path

    def worker_addresses(self, expected: int = N_WORKERS) -> list[str]:
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(expected, timeout=START_TIMEOUT_S)
            return sorted(client.scheduler_info(n_workers=-1)["workers"])

    def warm_up(self) -> None:
        """Start every worker's step zygote with the test jobs' modules imported, as a cluster
        that has run steps before has it, so timed tests do not pay it."""
        from distributed import Client

        from orch_assets.executor.dask_worker import start_zygote

        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.run(start_zygote, JOB_MODULES)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Package scope: stopped after the last dask test. An idle cluster (scheduler, two nannies, two
# workers) costs about 7% of a 2-core machine in heartbeats for the rest of the session.
@pytest.fixture(scope="package")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskTestCluster]:
    pytest.importorskip("distributed", reason="mode dask needs the [dask] extra")
    dask = str(Path(sys.executable).with_name("dask"))
    logs = tmp_path_factory.mktemp("dask_logs")
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    commands = [[dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"]]
    commands += [
        _worker_command(address, f"w{i}", f"orch_memory_gb={WORKER_MEMORY_GIB}")
        for i in range(N_WORKERS)
    ]
    processes = []
    for index, command in enumerate(commands):
        processes.append(_start(command, logs / f"{index}.log"))
        if index == 0:
            time.sleep(1.0)
    cluster = DaskTestCluster(address, processes, logs)
    try:
        cluster.worker_addresses()
        cluster.warm_up()
        yield cluster
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            _stop(process)


def _worker_command(address: str, name: str, resources: str, *extra: str) -> list[str]:
    """`dask worker` as an operator starts it: only address, size and resources."""
    dask = str(Path(sys.executable).with_name("dask"))
    return [dask, "worker", address, "--host", "127.0.0.1", "--nthreads", str(THREADS_PER_WORKER),
            "--memory-limit", WORKER_MEMORY, "--no-dashboard", "--name", name,
            "--resources", resources, *extra]  # fmt: skip


def _start(command: list[str], log_path: Path) -> subprocess.Popen:
    # The job modules of the tests are importable on the workers (as a deployment installs them).
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    log = log_path.open("w")
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=log)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def no_nanny_worker(dask_cluster: DaskTestCluster) -> Iterator[str]:
    """A third worker, `dask worker --no-nanny`, for one test; its address. Stopped after it."""
    from distributed import Client

    command = _worker_command(
        dask_cluster.address, "no-nanny", f"orch_memory_gb={NO_NANNY_MEMORY_GB}", "--no-nanny"
    )
    process = _start(command, dask_cluster.logs / "no-nanny.log")
    try:
        with Client(dask_cluster.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(N_WORKERS + 1, timeout=START_TIMEOUT_S)
            workers = client.scheduler_info(n_workers=-1)["workers"]
            (address,) = [a for a, info in workers.items() if info.get("name") == "no-nanny"]
            yield address
            _stop(process)
            deadline = time.monotonic() + START_TIMEOUT_S
            while address in client.scheduler_info(n_workers=-1)["workers"]:
                assert time.monotonic() < deadline, "the --no-nanny worker did not leave"
                time.sleep(0.2)
    finally:
        _stop(process)


@pytest.fixture
def dask_address(dask_cluster: DaskTestCluster) -> str:
    """The scheduler's address, once both workers are up (a test may have killed one)."""
    dask_cluster.worker_addresses()
    return dask_cluster.address
