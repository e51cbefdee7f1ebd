"""The Dask side of ``mode: dask``: a task that runs one step in a child of the Dask worker.

Workers never open the run's instance. The step runs in a child process (forked from a
forkserver the Dask worker starts once) against an ephemeral instance whose artifact directory is
the run instance's (so the default IO manager finds the outputs of earlier steps, given shared
storage). Every event log entry the step writes there (Dagster events and ``context.log``
records) is serialised and streamed to the run process through Dask's structured events
(``Worker.log_event`` -> ``Client.subscribe_topic``); the run process writes it to the instance
and schedules on it. So a worker on another machine needs neither the run host's SQLite nor a
database connection.

The child makes a step killable (a timeout, fail-fast, a terminated run) without killing the Dask
worker: the task polls a ``distributed.Event`` named after the launch and, once it is set, kills
the child and its descendants. A second ``Event`` marks the launch as claimed, so when Dask
re-runs the task after its first worker died, the copy does nothing and the run process fails or
retries the step itself.
"""

import contextlib
import multiprocessing
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from typing import Any, cast

import psutil
from dagster import DagsterInstance, deserialize_value, serialize_value

from orch_assets.executor._internals import (
    DagsterEvent,
    ReconstructableJob,
    capture_interrupts,
    create_context_free_log_manager,
    create_execution_plan,
    execute_plan_iterator,
    serializable_error_info_from_exc_info,
)
from orch_assets.executor.dask_calls import ReplyRelay, StepCaller
from orch_assets.executor.dask_cluster import TREE_METRIC, tree_metric
from orch_assets.executor.live import export_live_cap_env
from orch_assets.executor.ownership import terminate_process_trees
from orch_assets.executor.process_worker import StepCommand
from orch_assets.executor.run_instance import forward_to_run_process

STOP_POLL_S = 0.25
WATCHDOG_S = 1.0
WORKER_ENV = "ORCH_DASK_WORKER"
WORKER_PID_ENV = "ORCH_DASK_WORKER_PID"
_forkserver_lock = threading.Lock()
_forkserver: ForkServerContext | None = None


@dataclass(frozen=True)
class DaskStep:
    """What the run process sends with one launch; pickled by Dask."""

    topic: str
    stop_event: str
    claim_event: str
    recon_job: ReconstructableJob
    command: StepCommand
    artifact_dir: str | None
    reply_queue: str
    supports_pools: bool
    """Whether the run's instance has pools (``supports_global_concurrency_limits``)."""


def run_process_identity() -> str:
    """The value of ``RUN_PROCESS_ENV`` for this process (see ``run_instance.py``)."""
    return f"{socket.gethostname()}:{os.getpid()}:{psutil.Process().create_time():.2f}"


def _context(job_module: str | None) -> ForkServerContext:
    """One forkserver per Dask worker process; it imports Dagster, warms its in-memory storages
    and imports the module of the first job run there, once for every step forked from it."""
    global _forkserver
    with _forkserver_lock:
        if _forkserver is None:
            context = cast("ForkServerContext", multiprocessing.get_context("forkserver"))
            preload = ["orch_assets.executor.dask_preload", "dagster._core.execution.api"]
            context.set_forkserver_preload(preload + ([job_module] if job_module else []))
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
    context = _context(step.recon_job.get_module())
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


def _exit_with_worker(worker_pid: int) -> None:
    """End this step process (and what it started) once its Dask worker is gone (SIGKILL).

    Otherwise the step would go on writing (a DuckDB file, say) while the run process already
    failed it or retried it elsewhere.
    """
    try:
        worker = psutil.Process(worker_pid)
        while worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE:
            time.sleep(WATCHDOG_S)
    except psutil.NoSuchProcess:
        pass
    terminate_process_trees(psutil.Process().children(recursive=True), grace_s=0.5)
    os._exit(1)


def _forward_run_tags(instance: DagsterInstance, send: Callable[[str, Any], None]) -> None:
    """Send the step's ``add_run_tags`` calls to the run process, which owns the run record.

    The ephemeral instance has no record of the run, so the call is replaced on this
    instance object only; the run process applies the tags in order with the step's events.
    """

    def add_run_tags(run_id: str, new_tags: Mapping[str, str]) -> None:
        send("tags", {"run_id": run_id, "tags": {str(k): str(v) for k, v in new_tags.items()}})

    instance.add_run_tags = add_run_tags  # type: ignore[method-assign]


def step_child_main(
    conn: Connection, replies: Connection, step: DaskStep, worker_address: str, worker_pid: int
) -> None:
    """Run one step against an ephemeral instance, sending each entry through ``conn``.

    ``replies`` brings back the answers to the step's calls on the run's instance.
    """
    command, recon_job = step.command, step.recon_job
    lock = threading.Lock()

    def send(kind: str, payload: Any) -> None:
        with lock:  # events come from any thread of the step
            conn.send((kind, payload))

    forward_to_run_process(
        command.dagster_run.run_id, StepCaller(send, replies), step.supports_pools
    )
    os.environ.update(command.environ)
    os.environ[WORKER_ENV] = worker_address
    os.environ[WORKER_PID_ENV] = str(worker_pid)
    export_live_cap_env(command.dagster_run.run_id, command.live_cap)
    threading.Thread(target=_exit_with_worker, args=(worker_pid,), daemon=True).start()
    run = command.dagster_run
    try:
        with (
            capture_interrupts(),
            DagsterInstance.ephemeral(tempdir=step.artifact_dir) as instance,
        ):
            instance.add_event_listener(
                run.run_id, lambda entry: send("entry", serialize_value(entry))
            )
            _forward_run_tags(instance, send)
            DagsterEvent.step_worker_started(
                create_context_free_log_manager(instance, run),
                run.job_name,
                message=f'Executing step "{command.step_key}" on Dask worker {worker_address} '
                f"(pid {os.getpid()}).",
                metadata={"dask_worker": worker_address, "pid": str(os.getpid())},
                step_key=command.step_key,
            )
            plan = create_execution_plan(
                job=recon_job,
                run_config=command.run_config,
                step_keys_to_execute=[command.step_key],
                known_state=command.known_state,
                repository_load_data=command.repository_load_data,
            )
            for _ in execute_plan_iterator(
                plan,
                recon_job,
                run,
                run_config=command.run_config,
                retry_mode=command.retry_mode,
                instance=instance,
            ):
                pass
    except BaseException:
        error = serializable_error_info_from_exc_info(sys.exc_info())
        send("error", serialize_value(error))
    send("done", None)


def decode(payload: str) -> Any:
    """Inverse of the child's ``serialize_value`` (an ``EventLogEntry`` or an error)."""
    return deserialize_value(payload)
