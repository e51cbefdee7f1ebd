"""Which processes hold a run's pool slot, and whether they are still alive.

Dagster records a claimed pool slot as (run id, step key) only, and the default run launcher has
no health check: a run whose process is SIGKILLed stays ``STARTED`` and keeps its slots for ever.
So before a step claims a pool it writes, as run tags, who is about to hold it:

* ``orch/run_process``: the run's process (``host:pid:start time``);
* ``orch/holder/<step key>``: the step's process and the processes it started to do the work
  (the dbt worker), space separated.

Another run that finds the pool taken checks each holder: on this host, with every recorded
process gone (a pid whose start time differs is another process), the slot is dead and is freed.
A holder on another host cannot be checked from here.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dagster as dg
import psutil

from orch_assets.executor import RUN_PROCESS_ENV, RUN_PROCESS_TAG, orchestrated_here

__all__ = ["RUN_PROCESS_TAG"]
HOLDER_TAG_PREFIX = "orch/holder/"
# Dagster's add_run_tags reads, merges and rewrites the run: two steps of one run (thread mode)
# tagging at once lose one update. Every tag writer of this package serialises on this lock.
RUN_TAGS_LOCK = threading.Lock()
# psutil's start times have 10 ms resolution; a reused pid starts much later than that.
_START_TIME_TOLERANCE_S = 0.05


@dataclass(frozen=True)
class ProcessId:
    """A process identified across pid reuse: host name, pid and start time."""

    host: str
    pid: int
    started: float

    @classmethod
    def of(cls, pid: int | None = None) -> ProcessId:
        process = psutil.Process(pid)
        return cls(socket.gethostname(), process.pid, process.create_time())

    def encode(self) -> str:
        return f"{self.host}:{self.pid}:{self.started:.2f}"

    @classmethod
    def decode(cls, text: str) -> ProcessId | None:
        parts = text.rsplit(":", 2)
        try:
            return cls(parts[0], int(parts[1]), float(parts[2]))
        except (IndexError, ValueError):
            return None

    @property
    def local(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self) -> bool:
        """Whether the process still runs (meaningful only when :attr:`local`)."""
        try:
            process = psutil.Process(self.pid)
            if abs(process.create_time() - self.started) > _START_TIME_TOLERANCE_S:
                return False
            return process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
        except psutil.Error:
            return True

    def describe(self) -> str:
        return f"pid {self.pid} on {'this host' if self.local else f'host {self.host}'}"


def decode_all(text: str | None) -> list[ProcessId]:
    found = [ProcessId.decode(part) for part in (text or "").split()]
    return [p for p in found if p is not None]


def run_process(run_id: str) -> ProcessId:
    """The run's process: the one named by the adaptive executor to a step on a Dask worker,
    this one when the executor runs ``run_id`` here, else the parent of a step worker process.

    The parent of a step on Dask is the Dask worker, so the executor names the run process. In
    thread mode the step runs in the run process, whose parent is no guide (a run launched from
    the UI or by the daemon is a child of the code server, which outlives it): the executor says
    it runs the run here. A step in a child process of the run (the adaptive executor's process
    mode, Dagster's multiprocess executor) is a ``multiprocessing`` child of the run process.
    Under an executor of Dagster's own that runs steps in the run process, launched through a
    code server, this names the code server.
    """
    named = ProcessId.decode(os.environ.get(RUN_PROCESS_ENV, ""))
    if named is not None:
        return named
    if orchestrated_here(run_id):
        return ProcessId.of()
    parent = multiprocessing.parent_process()
    return ProcessId.of(parent.pid if parent is not None and parent.pid else None)


def add_run_tags(instance: dg.DagsterInstance, run_id: str, tags: Mapping[str, str]) -> None:
    with RUN_TAGS_LOCK:
        instance.add_run_tags(run_id, dict(tags))


def record_holder(
    instance: dg.DagsterInstance, run_id: str, step_key: str, helpers: Sequence[int] = ()
) -> None:
    """Tags the run with its process, and the step's holders: this process plus ``helpers``.

    Call it before claiming a slot (a stale tag must never outlive a fresh claim), and again
    with the pids of the processes the step starts to do the slot's work.
    """
    holders = [ProcessId.of()]
    for pid in helpers:
        try:
            holders.append(ProcessId.of(pid))
        except psutil.Error:
            continue
    tags = {
        RUN_PROCESS_TAG: run_process(run_id).encode(),
        HOLDER_TAG_PREFIX + step_key: " ".join(p.encode() for p in holders),
    }
    add_run_tags(instance, run_id, tags)


# A run in one of these states has a process that should be alive.
ACTIVE_STATUSES = frozenset(
    {dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING}
)


@dataclass(frozen=True)
class SlotHolder:
    """A claimed pool slot and what the run tags say about the processes behind it."""

    run_id: str
    step_key: str
    run: dg.DagsterRun | None
    processes: tuple[ProcessId, ...]

    @classmethod
    def load(cls, instance: dg.DagsterInstance, run_id: str, step_key: str) -> SlotHolder:
        run = instance.get_run_by_id(run_id)
        tags = run.tags if run is not None else {}
        run_proc = ProcessId.decode(tags.get(RUN_PROCESS_TAG, ""))
        processes = decode_all(tags.get(HOLDER_TAG_PREFIX + step_key))
        if not processes and run_proc is not None:
            processes = [run_proc]
        return cls(run_id, step_key, run, tuple(processes))

    @property
    def checkable(self) -> bool:
        return bool(self.processes) and all(p.local for p in self.processes)

    def gone(self) -> bool:
        """Every process recorded as holding the slot is gone (all on this host).

        A slot whose run is unknown (no run, no tags: claimed by other code) is never freed.
        """
        return self.checkable and not any(p.alive() for p in self.processes)

    def describe(self) -> str:
        where = ", ".join(p.describe() for p in self.processes)
        if not self.processes:
            where = "its processes are not recorded: cannot be checked"
        elif not self.checkable:
            where += ": cannot be checked from this host (see the README, 'Crashes')"
        return f"run {self.run_id} step {self.step_key} ({where})"


def run_process_gone(run: dg.DagsterRun) -> ProcessId | None:
    """The recorded process of a run that still counts as running, if it is gone (this host)."""
    recorded = ProcessId.decode(run.tags.get(RUN_PROCESS_TAG, ""))
    if run.status not in ACTIVE_STATUSES or recorded is None or not recorded.local:
        return None
    return None if recorded.alive() else recorded


def mark_dead_run(
    instance: dg.DagsterInstance, run: dg.DagsterRun, process: ProcessId, reason: str
) -> str:
    """Ends a run whose process is gone: canceled if it was canceling, else failed."""
    message = (
        f"The run's process ({process.describe()}) is gone, killed or crashed, while the run was "
        f"{run.status.value}; {reason}."
    )
    if run.status == dg.DagsterRunStatus.CANCELING:
        instance.report_run_canceled(run, message=message)
        return "canceled"
    instance.report_run_failed(run, message=message)
    return "failed"
