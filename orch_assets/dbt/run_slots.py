"""Run-wide model slots: the class limits and the live cap held across every gated dbt process
of one run.

Each gated step runs its own ``orch-dbt`` process (in the executor's thread and process modes
alike), so the run's limits cannot live in one process's memory. A running model instead holds
an exclusive ``flock`` on one slot file of its class and one of the total, in a directory per run
(:func:`run_slots_dir`). To start a model, a process takes the directory's ``mutex`` lock, counts
the busy slot files of the class and of the total (a file it cannot lock is held by a running
model, of this process or another), and takes the lowest free one when both counts are under
their limits. The kernel drops a dead process's locks, so a crashed step never keeps a slot.

Slot files are created lowest index first, only when all lower ones are busy: ``<key>.0`` ...
``<key>.n`` exist for the most models that ran at once, and counting stops at the first missing.
A slot freed in another process wakes no one here; the gate retries its waiting nodes every
:data:`SLOT_POLL_S`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

SLOT_POLL_S = 0.05
TOTAL = "_total"
# A class name is a file name here; the limits come from parse_class_limits (known names).
_NO_CLASS = "_none"


STALE_AFTER_S = 24 * 3600


def run_slots_dir(run_id: str) -> Path:
    """The run's slot directory (local to the machine: the steps of a run share its kernel).
    Directories of other runs untouched for :data:`STALE_AFTER_S` are removed on the way."""
    parent = Path(tempfile.gettempdir()) / "orch_run_slots"
    prune_stale(parent, keep=run_id)
    return parent / run_id


def _in_use(directory: Path) -> bool:
    """Whether a process holds a lock on any file of ``directory``."""
    for path in directory.iterdir():
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
    return False


def prune_stale(parent: Path, keep: str = "", older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Removes the run directories under ``parent`` that nothing has written for
    ``older_than_s`` and no process holds a lock in; returns them."""
    removed: list[Path] = []
    try:
        directories = [d for d in parent.iterdir() if d.is_dir() and d.name != keep]
    except OSError:
        return removed
    now = time.time()
    for directory in directories:
        try:
            newest = max(
                [directory.stat().st_mtime, *(f.stat().st_mtime for f in directory.iterdir())]
            )
            if now - newest < older_than_s or _in_use(directory):
                continue
            shutil.rmtree(directory)
            removed.append(directory)
        except OSError:
            continue
    return removed


class RunSlots:
    """The slots of one run as seen by one process; thread-safe."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._thread_lock = threading.Lock()
        # key -> the fds holding this process's slots of that key (one per running node).
        self._held: dict[str, list[int]] = {}

    @contextmanager
    def _mutex(self) -> Iterator[None]:
        fd = os.open(self.directory / "mutex", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _free_slot(self, key: str, limit: int | None) -> tuple[int, int] | None:
        """(fd of the lowest free slot file, locked; busy count), or None when ``limit`` busy."""
        busy, free_fd, index = 0, -1, 0
        while True:
            path = self.directory / f"{key}.{index}"
            exists = path.exists()
            if not exists and free_fd < 0:
                free_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(free_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not exists:
                break
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                busy += 1
                os.close(fd)
            else:
                if free_fd < 0:
                    free_fd = fd
                else:
                    os.close(fd)
            index += 1
        if limit is not None and busy >= limit:
            os.close(free_fd)
            return None
        return free_fd, busy

    def try_take(self, execution_class: str | None, limit: int | None, cap: int | None) -> bool:
        """Takes a slot of the class and of the total when the run has fewer than ``limit`` of
        the class and fewer than ``cap`` in all running (None: no limit)."""
        key = execution_class or _NO_CLASS
        with self._thread_lock, self._mutex():
            total = self._free_slot(TOTAL, cap)
            if total is None:
                return False
            own = self._free_slot(key, limit)
            if own is None:
                os.close(total[0])
                return False
            self._held.setdefault(TOTAL, []).append(total[0])
            self._held.setdefault(key, []).append(own[0])
            return True

    def give_back(self, execution_class: str | None) -> None:
        with self._thread_lock:
            for key in (TOTAL, execution_class or _NO_CLASS):
                held = self._held.get(key)
                if held:
                    os.close(held.pop())

    def busy(self) -> Mapping[str, int]:
        """Running models of the run per class (and ``_total``), for tests and logs."""
        counts: dict[str, int] = {}
        with self._thread_lock, self._mutex():
            for path in self.directory.glob("*.*"):
                fd = os.open(path, os.O_RDWR)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    key = path.name.rsplit(".", 1)[0]
                    counts[key] = counts.get(key, 0) + 1
                finally:
                    os.close(fd)
        return counts
