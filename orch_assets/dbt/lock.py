"""DuckDB's file lock, as met by another process: who holds it, and waiting for it (bounded).

DuckDB does not wait for a lock: while one process writes a file every other open fails, and
while any process holds a read-only connection, opening for write fails, at once, with
``IO Error: Could not set lock on file "...": Conflicting lock is held in <program> (PID n)``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import duckdb

_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")


def is_lock_conflict(error: BaseException) -> bool:
    return isinstance(error, duckdb.IOException) and "Could not set lock" in str(error)


def lock_holder(error: BaseException) -> tuple[int | None, str]:
    """(pid, program) of the process holding the lock, from DuckDB's message; pid None if absent."""
    found = _HOLDER.search(str(error))
    return (int(found["pid"]), found["program"]) if found else (None, "")


class DatabaseLockedError(Exception):
    """The file stayed locked by another process for the whole wait."""


def connect_waiting(
    path: str,
    wait_seconds: float,
    on_wait: Callable[[int | None, str, float], None],
    poll_seconds: float = 0.25,
    report_every_seconds: float = 10.0,
) -> duckdb.DuckDBPyConnection:
    """A read-write connection to ``path``, retrying lock conflicts for up to ``wait_seconds``.

    ``on_wait(pid, program, waited_seconds)`` is called at the first conflict and then every
    ``report_every_seconds``. Raises :class:`DatabaseLockedError` with one line naming the holder
    when the wait is over; any other error at once.
    """
    started = time.monotonic()
    reported: float | None = None
    while True:
        try:
            return duckdb.connect(path)
        except duckdb.IOException as error:
            if not is_lock_conflict(error):
                raise
            pid, program = lock_holder(error)
            waited = time.monotonic() - started
            if waited >= wait_seconds:
                raise DatabaseLockedError(
                    f"database {path} is locked by another process (pid {pid}, {program}) and "
                    f"was not released within {wait_seconds:g} s: close that connection (a "
                    "notebook or reader holding the file) and run again"
                ) from None
            if reported is None or waited - reported >= report_every_seconds:
                on_wait(pid, program, waited)
                reported = waited
            time.sleep(poll_seconds)
