"""Process mode in a forked process: never use a forkserver handle inherited by ``fork``.

Python keeps one forkserver per process, in module-level state of ``multiprocessing.forkserver``
that ``fork`` copies. A process forked after its parent started a forkserver (prefork task
runners, test runners, Dask nannies) believes that server is its own; the next worker start then
fails with ``ChildProcessError: [Errno 10] No child processes`` when it checks on the server, a
process that is not its child. Before process mode starts workers it checks whether the
forkserver this process knows of is its own child; if not, it drops the inherited handle (closing
its copy of the server's keep-alive pipe, which leaves the parent's server untouched), so
``multiprocessing`` starts a fresh forkserver for this process. If the handle cannot be dropped
(a Python whose forkserver keeps other state), workers are started with ``spawn`` instead.
Either way the run says so in an engine event.
"""

import contextlib
import multiprocessing
import multiprocessing.forkserver as mp_forkserver
import os
from multiprocessing.context import ForkServerContext, SpawnContext
from typing import cast

import psutil

_HANDLE_FIELDS = ("_forkserver_pid", "_forkserver_address", "_forkserver_alive_fd", "_lock")
LOCK_WAIT_S = 5.0


def inherited_forkserver_pid() -> int | None:
    """The pid of the forkserver this process knows of, if this process did not start it."""
    pid = getattr(getattr(mp_forkserver, "_forkserver", None), "_forkserver_pid", None)
    if not isinstance(pid, int):
        return None
    try:
        if psutil.Process(pid).ppid() == os.getpid():
            return None
    except psutil.NoSuchProcess:
        pass
    return pid


def forget_inherited_forkserver() -> bool:
    """Drop this process's handle to a forkserver it did not start; False if it cannot."""
    server = getattr(mp_forkserver, "_forkserver", None)
    if server is None or not all(hasattr(server, name) for name in _HANDLE_FIELDS):
        return False
    if not server._lock.acquire(timeout=LOCK_WAIT_S):  # noqa: SLF001
        return False
    try:
        alive_fd = server._forkserver_alive_fd  # noqa: SLF001
        server._forkserver_pid = None  # noqa: SLF001
        server._forkserver_address = None  # noqa: SLF001
        server._forkserver_alive_fd = None  # noqa: SLF001
    finally:
        server._lock.release()  # noqa: SLF001
    if isinstance(alive_fd, int):
        with contextlib.suppress(OSError):
            os.close(alive_fd)
    return True


def worker_context(start_method: str) -> tuple[ForkServerContext | SpawnContext, str | None]:
    """The multiprocessing context for process-mode workers, and a notice when it had to adapt."""
    requested = cast("ForkServerContext | SpawnContext", multiprocessing.get_context(start_method))
    if start_method != "forkserver":
        return requested, None
    pid = inherited_forkserver_pid()
    if pid is None:
        return requested, None
    why = (
        f"Adaptive executor: this process (pid {os.getpid()}) was forked from one that had "
        f"started a forkserver (pid {pid}), which is not this process's child;"
    )
    if forget_inherited_forkserver():
        return requested, f"{why} starting a fresh forkserver for process mode."
    spawn = cast("SpawnContext", multiprocessing.get_context("spawn"))
    return spawn, f"{why} its handle could not be dropped, so workers start with spawn."
