"""The step's dbt worker exits within seconds when the process that started it dies.

Real processes and signals: a parent process starts a worker exactly as the resource does
(``orch_assets.dbt.runner.DbtWorker``, a session of its own); the test SIGKILLs the parent and
watches the worker with psutil.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil

from tests.conftest import REPO_ROOT

PARENT = textwrap.dedent(
    """
    import time
    from orch_assets.dbt.runner import DbtWorker
    worker = DbtWorker(None, True)
    print(worker.pid, flush=True)
    time.sleep(600)
    """
)


def _wait_gone(pid: int, within_s: float) -> float | None:
    """Seconds until ``pid`` is gone (or a zombie), None if it outlives ``within_s``."""
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return time.monotonic() - started
        except psutil.NoSuchProcess:
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def test_a_worker_exits_within_seconds_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, start_new_session=True,
    )  # fmt: skip
    assert parent.stdout is not None
    worker_pid = int(parent.stdout.readline())
    try:
        worker = psutil.Process(worker_pid)
        assert worker.is_running() and worker.ppid() == parent.pid
        assert os.getsid(worker_pid) != os.getsid(parent.pid), "a session of its own"
        parent.kill()
        parent.wait()
        took = _wait_gone(worker_pid, within_s=10)
        assert took is not None, f"worker {worker_pid} still alive 10 s after its parent died"
        assert took < 5
    finally:
        for pid in (worker_pid, parent.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
