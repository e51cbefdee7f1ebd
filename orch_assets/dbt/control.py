"""The dbt worker's lifeline to the step: it exits when the process that started it is gone.

The worker is started in a session of its own (so a signal to the run's process group does not
reach it half-way through a DuckDB write), which also means nothing kills it when the process
that started it dies. :func:`watch_parent` polls the parent's pid and start time from a daemon
thread and makes the worker exit within about a second instead.

Exiting is ``os._exit``: no Python clean-up that could block (a write to a pipe nobody reads, a
lock held by the thread that runs dbt). DuckDB's write-ahead log makes a killed writer safe: the
next connection replays or discards the unfinished transaction.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import psutil

# Exit code of a worker that stopped because its parent went away (EX_TEMPFAIL).
EXIT_PARENT_GONE = 75
PARENT_POLL_S = 0.5


def exit_now(reason: str) -> None:
    """Ends the process at once; tries to say why on stderr without ever blocking on it."""
    try:
        os.set_blocking(2, False)
        os.write(2, f"dbt worker exiting: {reason}\n".encode())
    except OSError:
        pass
    os._exit(EXIT_PARENT_GONE)


def parent_is_alive(pid: int, create_time: float | None) -> bool:
    """Whether ``pid`` is still the parent we started with (not gone, not a reused pid)."""
    if os.getppid() != pid:
        return False
    try:
        process = psutil.Process(pid)
        if create_time is not None and abs(process.create_time() - create_time) > 0.05:
            return False
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def watch_parent(
    parent_pid: int,
    on_gone: Callable[[str], None] = exit_now,
    interval_s: float = PARENT_POLL_S,
) -> threading.Thread:
    """Calls ``on_gone`` from a daemon thread as soon as ``parent_pid`` is not our parent.

    ``parent_pid`` is the pid the parent passed in (not ``os.getppid()`` read here): a parent that
    died before this line ran is caught at the first check.
    """
    try:
        create_time: float | None = psutil.Process(parent_pid).create_time()
    except psutil.Error:
        create_time = None

    def poll() -> None:
        while parent_is_alive(parent_pid, create_time):
            time.sleep(interval_s)
        on_gone(f"parent process {parent_pid} is gone")

    thread = threading.Thread(target=poll, name="dbt-worker-parent-watch", daemon=True)
    thread.start()
    return thread
