"""A pre-imported Python process that forks step processes on request: a forkserver without
``multiprocessing``.

Dask starts its workers as daemon processes (the nanny's default, dask-jobqueue's,
dask-kubernetes'), and Python forbids ``multiprocessing`` children of a daemon process, but not
``subprocess.Popen``. So a worker starts one zygote with ``Popen`` (:class:`Zygote`): a fresh
interpreter that imports the ``preload`` modules once (Dagster, its execution API, the job's
module), then listens on a Unix socket in a private temporary directory. For each step the worker
connects, passes one end of a new socket pair (``SCM_RIGHTS``), and the zygote forks a child that
runs ``entry(fd)`` on that end, warm, in about the time of a ``fork``; modules named with the
request that the zygote has not imported yet (a later job's) it imports first, once. The connection then
carries the child's pid and, once the zygote has reaped the child, its exit code.

The zygote ends when its worker does: it holds the read end of a pipe whose only writer is the
worker, and exits on its end-of-file.
"""

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

READY_TIMEOUT_S = 300.0
"""How long a zygote may take to import its preload modules (Dagster: seconds on a loaded host)."""
_READY = b"ready\n"


class ZygoteError(RuntimeError):
    """The zygote could not be started, or stopped answering."""


@dataclass
class ZygoteChild:
    """A step process forked by the zygote: its pid, a duplex connection to it, its exit code."""

    pid: int
    conn: Connection
    _control: socket.socket
    _reported: bool = False
    _code: int | None = None

    def exited(self) -> bool:
        """Whether the zygote has reported the child's exit (or is itself gone)."""
        if self._reported:
            return True
        ready, _, _ = select.select([self._control], [], [], 0)
        return bool(ready)

    def exit_code(self, timeout: float) -> int | None:
        """The child's exit code, waiting up to ``timeout``; None if unknown by then."""
        if self._reported:
            return self._code
        self._control.settimeout(timeout)
        try:
            line = _read_line(self._control)
        except OSError:
            return None
        self._reported = True
        self._code = int(line) if line.lstrip("-").isdigit() else None
        return self._code

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        with contextlib.suppress(OSError):
            self._control.close()


def _read_line(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(64)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


class Zygote:
    """The worker's side: starts the zygote process and asks it for children."""

    def __init__(self, preload: list[str], entry: str) -> None:
        self._dir = tempfile.mkdtemp(prefix="orch-zygote-")
        self._path = str(Path(self._dir) / "socket")
        alive_r, self._alive_w = os.pipe()
        ready_r, ready_w = os.pipe()
        spec = {"sys_path": sys.path, "preload": preload, "entry": entry, "socket": self._path}
        command = [sys.executable, "-c", f"from {__name__} import serve; serve()"]
        command += [str(alive_r), str(ready_w), json.dumps(spec)]
        self._process = subprocess.Popen(command, pass_fds=(alive_r, ready_w))
        os.close(alive_r)
        os.close(ready_w)
        try:
            with os.fdopen(ready_r, "rb") as ready:
                readable, _, _ = select.select([ready], [], [], READY_TIMEOUT_S)
                started = bool(readable) and ready.readline() == _READY
        except BaseException:
            self.close()
            raise
        if not started:
            self.close()
            raise ZygoteError(
                f"the step zygote (pid {self._process.pid}) did not start within "
                f"{READY_TIMEOUT_S:g} s (exit code {self._process.poll()}); see the worker's log"
            )

    @property
    def pid(self) -> int:
        return self._process.pid

    def alive(self) -> bool:
        return self._process.poll() is None

    def fork(self, modules: Sequence[str] = ()) -> ZygoteChild:
        """A new child running the entry on its end of a fresh socket pair.

        The zygote first imports those of ``modules`` it has not imported yet, so a later job's
        module is imported once per zygote, not once per step.
        """
        ours, theirs = socket.socketpair()
        control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            control.connect(self._path)
            socket.send_fds(control, [json.dumps(list(modules)).encode()], [theirs.fileno()])
            line = _read_line(control)
        except OSError as error:
            control.close()
            ours.close()
            raise ZygoteError(f"the step zygote (pid {self.pid}) did not fork: {error}") from error
        finally:
            theirs.close()
        if not line.isdigit():
            control.close()
            ours.close()
            raise ZygoteError(f"the step zygote (pid {self.pid}) did not fork (got {line!r})")
        return ZygoteChild(int(line), Connection(ours.detach()), control)

    def close(self) -> None:
        """Stop the zygote (its running children go on to their end)."""
        if self._alive_w >= 0:
            with contextlib.suppress(OSError):
                os.close(self._alive_w)
            self._alive_w = -1
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=5)
        if self._process.poll() is None:
            self._process.kill()
        with contextlib.suppress(OSError):
            os.unlink(self._path)
        with contextlib.suppress(OSError):
            os.rmdir(self._dir)


def _load(entry: str) -> Callable[[int], None]:
    module, _, name = entry.partition(":")
    return getattr(importlib.import_module(module), name)


def serve() -> None:
    """The zygote process: ``python -c '...serve()' ALIVE_FD READY_FD SPEC_JSON``."""
    alive_fd, ready_fd, spec = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
    sys.path[:] = spec["sys_path"]
    _import(spec["preload"])
    entry = _load(spec["entry"])
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(spec["socket"])
    listener.listen(128)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    os.write(ready_fd, _READY)
    os.close(ready_fd)
    children: dict[int, socket.socket] = {}
    while True:
        try:
            readable, _, _ = select.select([listener, wake_r, alive_fd], [], [])
        except InterruptedError:
            continue
        if alive_fd in readable:
            return
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
        _reap(children)
        if listener in readable:
            control, _ = listener.accept()
            inherited = [listener.fileno(), wake_r, wake_w, alive_fd]
            inherited += [other.fileno() for other in children.values()]
            pid = _fork(control, entry, inherited)
            if pid is not None:
                children[pid] = control


def _import(modules: list[str]) -> None:
    for module in modules:
        if module not in sys.modules:
            # A module that fails here fails again, with its traceback, in the step that needs it.
            with contextlib.suppress(Exception):
                importlib.import_module(module)


def _fork(control: socket.socket, entry: Callable[[int], None], close: list[int]) -> int | None:
    try:
        data, fds, _, _ = socket.recv_fds(control, 65536, 1)
        modules = json.loads(data)
    except (OSError, ValueError):
        control.close()
        return None
    if not fds:
        control.close()
        return None
    _import(modules)
    pid = os.fork()
    if pid == 0:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in close:
            os.close(fd)
        control.close()
        code = 0
        try:
            entry(fds[0])
        except BaseException:
            code = 1
            with contextlib.suppress(Exception):
                traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    os.close(fds[0])
    with contextlib.suppress(OSError):
        control.sendall(f"{pid}\n".encode())
    return pid


def _reap(children: dict[int, socket.socket]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        control = children.pop(pid, None)
        if control is not None:
            with contextlib.suppress(OSError):
                control.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
            control.close()


_lock = threading.Lock()
_zygotes: dict[str, Zygote] = {}


def zygote_for(key: str, preload: list[str], entry: str) -> Zygote:
    """This process's zygote for ``key``, started on first use and again if it died."""
    with _lock:
        zygote = _zygotes.get(key)
        if zygote is None or not zygote.alive():
            if zygote is not None:
                zygote.close()
            zygote = _zygotes[key] = Zygote(preload, entry)
        return zygote
