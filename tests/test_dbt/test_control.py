"""The dbt worker's lifeline: it exits within seconds when its parent dies, whatever it is doing.

Real processes and signals: a parent process starts a child in a session of its own (as the run
starts the dbt worker) that uses ``orch_assets.dbt.control`` exactly as the worker does; the test
SIGKILLs the parent and watches the child with psutil.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from orch_assets.dbt.control import EXIT_PARENT_GONE
from tests.conftest import REPO_ROOT

# The child: control channel and parent watch as in orch_assets/dbt/worker.py; its main thread
# either sleeps or writes to stdout that nobody reads (it blocks once the pipe is full).
CHILD = textwrap.dedent(
    """
    import json, sys, time
    from orch_assets.dbt.control import ControlChannel, dispatch, watch_parent

    def echo(message):
        sys.stdout.write(json.dumps({"echoed": message}) + "\\n")
        sys.stdout.flush()

    ControlChannel(dispatch({"echo": echo})).start()
    watch_parent(int(sys.argv[1]))
    if sys.argv[2] == "flood":
        while True:
            sys.stdout.write("x" * 65536)
    time.sleep(600)
    """
)

# The parent: starts the child like WorkerProcess does, prints its pid, never reads its stdout.
# "fork" also forks a sibling that inherits the parent's end of the child's stdin, so the
# child sees no end of file when the parent dies: only the parent watch can notice.
PARENT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    child = subprocess.Popen(
        [sys.executable, "-c", sys.argv[1], str(os.getpid()), sys.argv[2]],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True,
    )
    if sys.argv[3] == "fork" and os.fork() == 0:
        time.sleep(60)
        os._exit(0)
    print(child.pid, flush=True)
    time.sleep(600)
    """
)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


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


@pytest.mark.parametrize(
    ("activity", "sibling"),
    [("sleep", "none"), ("flood", "none"), ("sleep", "fork"), ("flood", "fork")],
    ids=[
        "idle child, stdin closes",
        "child blocked writing to the dead parent's full pipe",
        "idle child, stdin kept open by a forked sibling",
        "blocked child, stdin kept open by a forked sibling",
    ],
)
def test_a_worker_exits_within_seconds_when_its_parent_is_killed(
    activity: str, sibling: str
) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD, activity, sibling],
        stdout=subprocess.PIPE, text=True, env=_env(), start_new_session=True,
    )  # fmt: skip
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    time.sleep(1.0)  # the child is up, its threads are running (and its pipe full if flooding)
    assert psutil.Process(child_pid).is_running()
    try:
        parent.kill()
        parent.wait()
        took = _wait_gone(child_pid, within_s=10)
        assert took is not None, f"child {child_pid} still alive 10 s after its parent was killed"
        assert took < 5
    finally:
        for pid, kill in ((child_pid, os.kill), (parent.pid, os.killpg)):  # the forked sibling
            with contextlib.suppress(ProcessLookupError):
                kill(pid, signal.SIGKILL)


def test_control_messages_reach_their_handler_by_type_and_end_of_file_ends_the_worker() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(os.getpid()), "sleep"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_env(),
    )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.write('not json\n{"type": "unknown"}\n{"type": "echo", "n": 1}\n')
        child.stdin.flush()
        assert json.loads(child.stdout.readline()) == {"echoed": {"type": "echo", "n": 1}}
        child.stdin.close()
        assert child.wait(timeout=5) == EXIT_PARENT_GONE
        stderr = child.stderr.read() if child.stderr else ""
        assert "control line is not JSON" in stderr
        assert "ignored control message {'type': 'unknown'}" in stderr
        assert "control channel closed" in stderr
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
