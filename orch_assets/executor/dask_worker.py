"""The Dask side of ``mode: dask``: a task that runs one step in a child of the Dask worker.

Workers never open the run's instance. The step runs in a child process (forked from a
forkserver the Dask worker starts once; ``dask_step.py``) against an ephemeral instance whose
artifact directory is the run instance's (so the default IO manager finds the outputs of earlier
steps, given shared storage). Every event log entry the step writes there (Dagster events and
``context.log`` records) is serialised and streamed to the run process through Dask's structured
events (``Worker.log_event`` -> ``Client.subscribe_topic``); the run process writes it to the
instance and schedules on it. The step's calls on the run's instance go the same way, and their
answers come back on a queue of the launch (``dask_calls.py``). So a worker on another machine
needs neither the run host's SQLite nor a database connection.

The child makes a step killable (a timeout, fail-fast, a terminated run) without killing the Dask
worker: the task polls a ``distributed.Event`` named after the launch and, once it is set, kills
the child and its descendants. A second ``Event`` marks the launch as claimed, so when Dask
re-runs the task after its first worker died, the copy does nothing and the run process fails or
retries the step itself.
"""

import contextlib
import multiprocessing
import os
import threading
from multiprocessing.context import ForkServerContext
from typing import Any, cast

import psutil

from orch_assets.executor._internals import EXECUTION_API_MODULE
from orch_assets.executor.dask_calls import ReplyRelay
from orch_assets.executor.dask_cluster import TREE_METRIC, tree_metric
from orch_assets.executor.dask_step import DaskStep, step_child_main
from orch_assets.executor.ownership import terminate_process_trees

STOP_POLL_S = 0.25
_forkserver_lock = threading.Lock()
_forkserver: ForkServerContext | None = None


def _context(modules: list[str | None]) -> ForkServerContext:
    """One forkserver per Dask worker process; it imports Dagster, warms its in-memory storages
    and imports ``modules`` of the first step run there (its job's, its compute log manager's),
    once for every step forked from it."""
    global _forkserver
    with _forkserver_lock:
        if _forkserver is None:
            context = cast("ForkServerContext", multiprocessing.get_context("forkserver"))
            preload = ["orch_assets.executor.dask_preload", EXECUTION_API_MODULE]
            context.set_forkserver_preload(preload + [m for m in modules if m])
            _forkserver = context
        return _forkserver


def run_step(step: DaskStep) -> dict[str, Any]:
    """The Dask task: run one step in a child process and stream its entries to the run."""
    from distributed import Event, get_worker

    worker = get_worker()
    worker.metrics.setdefault(TREE_METRIC, tree_metric)
    address = worker.address
    if multiprocessing.current_process().daemon:
        raise RuntimeError(
            f"Dask worker {address} runs as a daemon process, which cannot start the step's "
            "process: start its workers with DASK_DISTRIBUTED__WORKER__DAEMON=False."
        )
    stop, claim = Event(step.stop_event), Event(step.claim_event)
    if claim.is_set() or stop.is_set():
        return {"worker": address, "ran": False}
    claim.set()

    def send(kind: str, **fields: Any) -> None:
        message = {"token": step.command.token, "step_key": step.command.step_key, "kind": kind}
        worker.log_event(step.topic, {**message, "worker": address, **fields})

    send("started", pid=os.getpid())
    exit_code = _run_child(step, address, send, stop)
    return {"worker": address, "ran": True, "exit_code": exit_code}


def _run_child(step: DaskStep, address: str, send: Any, stop: Any) -> int | None:
    log_manager = step.compute_logs.module_name if step.compute_logs else None
    context = _context([step.recon_job.get_module(), log_manager])
    parent, child = context.Pipe(duplex=False)
    replies_in, replies_out = context.Pipe(duplex=False)
    process = context.Process(
        target=step_child_main,
        args=(child, replies_in, step, address, os.getpid()),
        name="orch-dask-step",
    )
    process.start()
    child.close()
    replies_in.close()
    relay = ReplyRelay(step.reply_queue)
    done = False
    stopped = False
    while True:
        try:
            if parent.poll(STOP_POLL_S):
                kind, payload = parent.recv()
                done = done or kind == "done"
                send(kind, **({"payload": payload} if payload is not None else {}))
                if kind == "call":
                    reply = relay.wait(lambda: stop.is_set() or not process.is_alive())
                    if reply is not None:
                        replies_out.send_bytes(reply)
                continue
        except (EOFError, OSError):
            break
        if not stopped and stop.is_set():
            stopped = True
            with contextlib.suppress(psutil.NoSuchProcess):
                terminate_process_trees([psutil.Process(process.pid)], grace_s=0.5)
    process.join(timeout=5)
    relay.close()
    replies_out.close()
    if not done:
        send("crash", exit_code=process.exitcode, stopped=stopped)
    return process.exitcode
