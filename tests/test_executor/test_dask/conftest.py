"""A real Dask cluster on 127.0.0.1 for the dask-mode tests: `dask scheduler` + two `dask worker`.

Started once for the tests of this folder (about 5-10 s on a loaded 2-core machine) and stopped
after the last of them. Workers run under their nanny, so a test that SIGKILLs a worker process
gets it restarted; :func:`dask_address` waits until two workers are back before each test.
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
THREADS_PER_WORKER = 2
WORKER_MEMORY = "2GB"
WORKER_MEMORY_GIB = 1.86
START_TIMEOUT_S = 120.0


@dataclass
class DaskTestCluster:
    address: str
    processes: list[subprocess.Popen]

    def worker_addresses(self, expected: int = N_WORKERS) -> list[str]:
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(expected, timeout=START_TIMEOUT_S)
            return sorted(client.scheduler_info(n_workers=-1)["workers"])


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
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
    }
    port = address.rsplit(":", 1)[1]
    commands = [[dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"]]
    commands += [
        [dask, "worker", address, "--host", "127.0.0.1", "--nthreads", str(THREADS_PER_WORKER),
         "--memory-limit", WORKER_MEMORY, "--no-dashboard", "--name", f"w{i}",
         "--resources", f"orch_memory_gb={WORKER_MEMORY_GIB}"]
        for i in range(N_WORKERS)
    ]  # fmt: skip
    processes = []
    for index, command in enumerate(commands):
        log = (logs / f"{index}.log").open("w")
        processes.append(subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=log))
        if index == 0:
            time.sleep(1.0)
    cluster = DaskTestCluster(address, processes)
    try:
        cluster.worker_addresses()
        yield cluster
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def dask_address(dask_cluster: DaskTestCluster) -> str:
    """The scheduler's address, once both workers are up (a test may have killed one)."""
    dask_cluster.worker_addresses()
    return dask_cluster.address
