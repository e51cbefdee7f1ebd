"""One writer per simulation database, whatever the Dagster instance: an OS lock beside the file.

The instance pool (:mod:`orch_assets.simulation.pool`) queues writers across runs, but only on an
instance whose pools have a limit, and two ``dagster job execute`` runs without ``DAGSTER_HOME``
each have an instance of their own. DuckDB's own lock does not serialise writers either: it is
held per connection, so another run takes the file in the gap between this step's connections
(its preparation, its dbt worker, its fingerprint) and the step then fails on "Could not set
lock". So a writing step holds an exclusive ``flock`` on ``<database>.writer`` from before its
first write until its last read. The kernel releases it when the holder's process dies, however
it dies; the file's content (who holds it) is only for the messages of a writer that waits.
``flock`` locks belong to an open file, so two steps of one process (thread mode) exclude each
other too. Readers never take it: they keep DuckDB's read-only path.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

POLL_INTERVAL_S = 0.25
REPORT_EVERY_S = 30.0
LOCK_SUFFIX = ".writer"


class WriterLockTimeout(Exception):
    """Another writer held the database for the whole wait; nothing was written."""


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + LOCK_SUFFIX)


def describe_holder(path: Path) -> str:
    """Who holds the lock file ``path``, from what its holder wrote in it."""
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        holder = {}
    if not holder:
        return "another writer (not yet named)"
    run = f"run {holder['run_id']}" if holder.get("run_id") else "a process outside a run"
    return (
        f"{run}, a writer (pid {holder.get('pid')} on host {holder.get('host')}, writing since "
        f"{holder.get('since')})"
    )


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def hold_writer_lock(
    database: Path,
    run_id: str | None,
    wait_seconds: float,
    log: Callable[[str], None],
) -> Iterator[None]:
    """Holds the database's writer lock for the body, waiting up to ``wait_seconds`` for it.

    ``log`` gets one line naming the holder when the wait starts, then every
    :data:`REPORT_EVERY_S`, and one when the lock is taken after a wait. Raises
    :class:`WriterLockTimeout` (one line, naming the holder) when the wait is over.
    """
    path = lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, path, wait_seconds, log)
        try:
            holder = {
                "role": "writer",
                "run_id": run_id,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder).encode(), 0)
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, wait_seconds: float, log: Callable[[str], None]) -> None:
    started = time.monotonic()
    reported: float | None = None
    while not _try_lock(fd):
        waited = time.monotonic() - started
        holder = describe_holder(path)
        if waited >= wait_seconds:
            raise WriterLockTimeout(
                f"database {path.with_suffix('')} is being written by {holder}, which did not "
                f"finish within {wait_seconds:g} s (simulation_store.writer_wait_seconds); "
                "nothing was written: run again once it has finished"
            )
        if reported is None or waited - reported >= REPORT_EVERY_S:
            log(
                f"Waiting for {path.with_suffix('')}: it is being written by {holder}; one "
                f"writer per database, waiting up to {wait_seconds:g} s (waited {waited:.0f} s)"
            )
            reported = waited
        time.sleep(POLL_INTERVAL_S)
    if reported is not None:
        log(f"Writer lock on {path.with_suffix('')} taken after {time.monotonic() - started:.1f} s")
