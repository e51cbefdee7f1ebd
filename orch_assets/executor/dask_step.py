"""The step's own process in ``mode: dask``: forked per step by its Dask worker's zygote.

The step runs against an ephemeral instance whose artifact directory is the run instance's; every
event log entry it writes, the run tags it adds and its calls on the run's instance
(``run_instance.py``) go up a pipe to the Dask task (``dask_worker.py``), which streams them to
the run process. Its stdout/stderr are captured by the run instance's compute log manager,
rebuilt here from its config. The process ends itself once its Dask worker is gone.
"""

import os
import pickle
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import psutil
from dagster import DagsterInstance, deserialize_value, serialize_value

from orch_assets.executor._internals import (
    ComputeLogManager,
    ConfigurableClassData,
    DagsterEvent,
    ReconstructableJob,
    capture_interrupts,
    create_context_free_log_manager,
    create_execution_plan,
    execute_plan_iterator,
    serializable_error_info_from_exc_info,
    use_compute_log_manager,
)
from orch_assets.executor.container import step_cgroup_metadata
from orch_assets.executor.dask_calls import StepCaller
from orch_assets.executor.live import export_live_cap_env
from orch_assets.executor.ownership import terminate_process_trees
from orch_assets.executor.process_worker import StepCommand
from orch_assets.executor.run_instance import forward_to_run_process

WATCHDOG_S = 1.0
WORKER_ENV = "ORCH_DASK_WORKER"
WORKER_PID_ENV = "ORCH_DASK_WORKER_PID"


@dataclass(frozen=True)
class DaskStep:
    """What the run process sends with one launch; pickled by Dask."""

    topic: str
    stop_event: str
    claim_event: str
    lease: str
    """Name of the run's lease (``dask_lease.py``): the task stops the step once it lapses."""
    recon_job: ReconstructableJob
    command: StepCommand
    artifact_dir: str | None
    reply_queue: str
    supports_pools: bool
    """Whether the run's instance has pools (``supports_global_concurrency_limits``)."""
    compute_logs: ConfigurableClassData | None
    """Config of the run instance's compute log manager, which the step captures with."""


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


def _capture_like_the_run(instance: DagsterInstance, config: ConfigurableClassData | None) -> str:
    """Give the step's instance the run's compute log manager; say where stdout/stderr go.

    With a local manager the files land in the run instance's storage directory, which workers
    share (see the README); a manager that cannot be built here leaves them in the worker's log.
    """
    if config is None:
        return "not captured: the run's instance has no configurable compute log manager"
    try:
        use_compute_log_manager(instance, config.rehydrate(as_type=ComputeLogManager))
    except Exception as error:
        return f"not captured: {config.class_name} failed on this worker: {error}"
    return f"captured by {config.class_name}"


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
            capture = _capture_like_the_run(instance, step.compute_logs)
            DagsterEvent.step_worker_started(
                create_context_free_log_manager(instance, run),
                run.job_name,
                message=f'Executing step "{command.step_key}" on Dask worker {worker_address} '
                f"(pid {os.getpid()}).",
                metadata={
                    "dask_worker": worker_address,
                    "pid": str(os.getpid()),
                    "compute_logs": capture,
                    **step_cgroup_metadata(),
                },
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


def forked_main(fd: int) -> None:
    """The zygote's entry (``zygote.py``): read the launch from ``fd``, then run the step.

    ``fd`` is a duplex socket to the Dask task: the task writes ``(step, worker address,
    worker pid)`` first, then the answers to the step's calls; the step writes its messages.
    """
    conn = Connection(fd)
    step, worker_address, worker_pid = pickle.loads(conn.recv_bytes())
    step_child_main(conn, conn, step, worker_address, worker_pid)


def decode(payload: str) -> Any:
    """Inverse of the child's ``serialize_value`` (an ``EventLogEntry`` or an error)."""
    return deserialize_value(payload)
