"""The Dask side of ``mode: dask``: a task that runs one step in a process of its own.

Workers never open the run's instance. The step runs in a process forked by the worker's zygote
(``zygote.py``: a pre-imported interpreter the worker starts once with ``subprocess.Popen``, so
workers may be daemon processes, as ``dask worker`` starts them) against an ephemeral instance
whose artifact directory is the run instance's (so the default IO manager finds the outputs of
earlier steps, given shared storage); see ``dask_step.py``. Every event log entry the step writes
there (Dagster events and ``context.log`` records) is serialised and streamed to the run process
through Dask's structured events (``Worker.log_event`` -> ``Client.subscribe_topic``); the run
process writes it to the instance and schedules on it. The step's calls on the run's instance go
the same way, and their answers come back on a queue of the launch (``dask_calls.py``). So a
worker on another machine needs neither the run host's SQLite nor a database connection.

The separate process makes a step killable (a timeout, fail-fast, a terminated run) without
killing the Dask worker: the task polls a ``distributed.Event`` named after the launch and, once
it is set, kills the step's process and its descendants. It also watches the run's lease
(``dask_lease.py``): when the run process has died, it kills the step and forwards nothing more.
A second ``Event`` marks the launch as claimed, so when Dask re-runs the task after its first
worker died, the copy does nothing and the run process fails or retries the step itself.
"""

import contextlib
import os
import pickle
import time
from collections.abc import Sequence
from typing import Any

import psutil

from orch_assets.executor._internals import EXECUTION_API_MODULE
from orch_assets.executor.dask_calls import ReplyRelay
from orch_assets.executor.dask_cluster import TREE_METRIC, tree_metric
from orch_assets.executor.dask_lease import lease_watch
from orch_assets.executor.dask_step import DaskStep, forked_main
from orch_assets.executor.ownership import terminate_process_trees
from orch_assets.executor.zygote import ZygoteChild, zygote_for

STOP_POLL_S = 0.25
EXIT_WAIT_S = 5.0
_ENTRY = f"{forked_main.__module__}:{forked_main.__name__}"


def start_zygote(modules: Sequence[str] = ()) -> int:
    """Start this worker's step zygote now, importing ``modules`` (jobs' modules); its pid.

    It otherwise starts with the first step run on the worker, which then waits for it (seconds:
    it imports Dagster). ``Client.run(start_zygote, [...])`` warms every worker of a cluster.
    """
    preload = ["orch_assets.executor.dask_preload", EXECUTION_API_MODULE, *modules]
    return zygote_for("dask-steps", preload, _ENTRY).pid


def _fork_step(modules: list[str | None]) -> ZygoteChild:
    """A step process from this worker's zygote, which imports Dagster and warms its in-memory
    storages once, and each of ``modules`` (the job's, its compute log manager's) the first
    time a step needs it, for every step forked after."""
    needed = [m for m in modules if m]
    preload = ["orch_assets.executor.dask_preload", EXECUTION_API_MODULE, *needed]
    return zygote_for("dask-steps", preload, _ENTRY).fork(needed)


def run_step(step: DaskStep) -> dict[str, Any]:
    """The Dask task: run one step in a child process and stream its entries to the run."""
    from distributed import Event, get_worker

    worker = get_worker()
    worker.metrics.setdefault(TREE_METRIC, tree_metric)
    address = worker.address
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
    child = _fork_step([step.recon_job.get_module(), log_manager])
    lease = lease_watch(step.lease)
    relay = ReplyRelay(step.reply_queue)
    done = stopped = False
    next_check = 0.0
    try:
        child.conn.send_bytes(pickle.dumps((step, address, os.getpid())))
        while True:
            now = time.monotonic()
            if not stopped and now >= next_check:
                next_check = now + STOP_POLL_S
                if stop.is_set() or lease.check():
                    stopped = True
                    with contextlib.suppress(psutil.NoSuchProcess):
                        terminate_process_trees([psutil.Process(child.pid)], grace_s=0.5)
            try:
                if not child.conn.poll(STOP_POLL_S):
                    if child.exited():  # a descendant may hold the socket open
                        break
                    continue
                kind, payload = child.conn.recv()
            except (EOFError, OSError):
                break
            if lease.expired:
                continue
            done = done or kind == "done"
            send(kind, **({"payload": payload} if payload is not None else {}))
            if kind == "call":
                reply = relay.wait(lambda: stop.is_set() or lease.check() or child.exited())
                if reply is not None:
                    child.conn.send_bytes(reply)
        exit_code = child.exit_code(EXIT_WAIT_S)
    finally:
        relay.close()
        child.close()
    # Once the run process is gone nothing is forwarded: nobody reads it, and it must not land
    # in a topic a later subscriber of the same run could see.
    if not done and not lease.expired:
        send("crash", exit_code=exit_code, stopped=stopped)
    return exit_code
