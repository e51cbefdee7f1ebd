"""The dbt worker's side of its lifeline to the run: a control channel on stdin and a parent watch.

The worker is started in a session of its own (so a signal to the run's process group does not
reach it half-way through a DuckDB write), which also means nothing kills it when the process
that started it dies. Two daemon threads make it exit within about a second instead:

* :class:`ControlChannel` reads JSON lines from stdin, the parent's ``Popen(stdin=PIPE)``, and
  passes each object to ``on_message`` (route them with :func:`dispatch`, by ``"type"``). End of
  file means the parent is gone or has given up on the worker: the worker exits.
* :func:`watch_parent` polls the parent's pid and start time: a parent that died while something
  else still holds the pipe's write end (a process forked from it) is noticed too.

Exiting is ``os._exit``: no Python clean-up that could block (a write to a pipe nobody reads, a
lock held by the thread that runs dbt). DuckDB's write-ahead log makes a killed writer safe: the
next connection replays or discards the unfinished transaction.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

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


def dispatch(
    handlers: Mapping[str, Callable[[dict[str, Any]], None]],
) -> Callable[[dict[str, Any]], None]:
    """An ``on_message`` that calls ``handlers[message["type"]]``; other types are reported."""

    def on_message(message: dict[str, Any]) -> None:
        handler = handlers.get(str(message.get("type")))
        if handler is None:
            print(f"dbt worker: ignored control message {message!r}", file=sys.stderr)
            return
        handler(message)

    return on_message


class ControlChannel:
    """Reads one JSON object per line from file descriptor ``fd`` (stdin) in a daemon thread.

    ``on_message`` runs in that thread. ``on_close`` runs at end of file or on a read error
    (default: :func:`exit_now`); a line that is not a JSON object is reported on stderr and
    skipped, so one bad message never cuts the lifeline. The descriptor is read with
    ``os.read``, not through ``sys.stdin``: a daemon thread blocked inside a buffered reader
    aborts the interpreter at exit ("could not acquire lock ... at interpreter shutdown").
    """

    def __init__(
        self,
        on_message: Callable[[dict[str, Any]], None],
        on_close: Callable[[str], None] = exit_now,
        fd: int = 0,
    ) -> None:
        self._on_message = on_message
        self._on_close = on_close
        self._fd = fd
        self._thread = threading.Thread(target=self._read, name="dbt-worker-control", daemon=True)

    def start(self) -> ControlChannel:
        self._thread.start()
        return self

    def _read(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError as error:
                self._on_close(f"control channel read failed: {error}")
                return
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self._handle(line)
        self._on_close("control channel closed (the run process ended or gave up on the worker)")

    def _handle(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            message = json.loads(line)
        except ValueError:
            print(f"dbt worker: control line is not JSON: {line[:200]!r}", file=sys.stderr)
            return
        if not isinstance(message, dict):
            print(f"dbt worker: control line is not an object: {line[:200]!r}", file=sys.stderr)
            return
        try:
            self._on_message(message)
        except Exception as error:
            print(f"dbt worker: control message {message!r} failed: {error!r}", file=sys.stderr)


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
