"""The run's lease on its Dask tasks: a task stops its step once the run process is gone.

A Dask task cannot tell from the cluster whether the client that submitted it is alive, and a
SIGKILLed run process ends nothing on the workers. So the run process renews a lease: a
``distributed.Variable`` named after the run, set to a counter it increments every
``RENEW_S`` (:class:`RunLease`, a daemon thread). Each task reads it every ``CHECK_S``
(:class:`LeaseWatch`) and counts the time since it last saw the counter change on its own
clock, so clocks of different machines never meet. Once a read shows the same counter
``EXPIRY_S`` after it last changed, the run is taken for dead: the task kills its step's process
tree and forwards nothing more. A read that fails (a slow or unreachable scheduler) is no
evidence either way.

Worst case from the run process's death to its steps' end: ``EXPIRY_S + CHECK_S`` plus the
kill's grace (0.5 s), within 15 s.
"""

import contextlib
import threading
import time
import weakref
from typing import Any

RENEW_S = 1.0
CHECK_S = 1.0
EXPIRY_S = 10.0
"""Seconds without a renewal after which a task takes its run process for dead."""
_GET_TIMEOUT_S = 2.0


def lease_name(run_id: str) -> str:
    return f"orch-{run_id}-lease"


class RunLease:
    """In the run process: renews the run's lease until :meth:`close`."""

    def __init__(self, client: Any, run_id: str) -> None:
        from distributed import Variable

        self._variable = Variable(lease_name(run_id), client=client)
        self._count = 0
        self._variable.set(self._count)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="orch-dask-lease", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._closed.wait(RENEW_S):
            self._count += 1
            # A missed renewal (a slow scheduler) is made up by the next one.
            with contextlib.suppress(Exception):
                self._variable.set(self._count)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self._variable.delete()


class LeaseWatch:
    """In a Dask worker: whether the run process has stopped renewing its lease.

    One per run and worker process (:func:`lease_watch`), shared by the run's tasks there, so a
    worker reads each lease once per ``CHECK_S`` however many of its steps run.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._variable: Any = None
        self._value: object = None
        now = time.monotonic()
        self._changed_at = now
        self._next_check = now
        self.expired = False

    def check(self) -> bool:
        """True once the lease has not changed for ``EXPIRY_S`` (checked every ``CHECK_S``)."""
        with self._lock:
            now = time.monotonic()
            if self.expired or now < self._next_check:
                return self.expired
            self._next_check = now + CHECK_S
            value = self._read()
            if value is None:  # not read: no evidence either way
                return False
            now = time.monotonic()
            if value != self._value:
                self._value, self._changed_at = value, now
            self.expired = now - self._changed_at > EXPIRY_S
            return self.expired

    def _read(self) -> object:
        from distributed import Variable

        try:
            if self._variable is None:
                self._variable = Variable(self._name)
            return self._variable.get(timeout=_GET_TIMEOUT_S)
        except Exception:  # deleted, or the scheduler is slow: no renewal seen
            return None


_watches_lock = threading.Lock()
_watches: "weakref.WeakValueDictionary[str, LeaseWatch]" = weakref.WeakValueDictionary()


def lease_watch(name: str) -> LeaseWatch:
    """The watch of lease ``name`` in this process, shared while any task of the run holds it."""
    with _watches_lock:
        watch = _watches.get(name)
        if watch is None:
            watch = _watches[name] = LeaseWatch(name)
        return watch
