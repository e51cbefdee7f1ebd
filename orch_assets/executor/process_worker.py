"""The child side of process mode: a worker that runs one step after another.

A worker is started once and reused, so the cost of starting Python, importing Dagster and the
job's code, and opening the instance is paid once per worker instead of once per step (the
multiprocess executor pays it per step: 1-5 s on a 2-core machine). Each step still runs exactly
as in the multiprocess executor's child: a one-step execution plan through
``execute_plan_iterator`` with deferred retries, so the parent decides about retries.

A forkserver worker inherits the environment of the forkserver, which may be older than the run
process's (a long-lived process that starts several runs), so each step command carries the
run process's environment at launch and the worker adopts it before the step.
"""

import os
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from dagster import DagsterInstance, DagsterRun

from orch_assets.executor._internals import (
    DagsterEvent,
    InstanceRef,
    KnownExecutionState,
    ReconstructableJob,
    RetryMode,
    capture_interrupts,
    create_context_free_log_manager,
    create_execution_plan,
    execute_plan_iterator,
    serializable_error_info_from_exc_info,
)
from orch_assets.executor.container import step_cgroup_metadata
from orch_assets.executor.live import export_live_cap_env
from orch_assets.executor.messages import Kind, WorkerMessage


@dataclass(frozen=True)
class StepCommand:
    """Everything a worker needs to run one step; pickled through the worker's pipe."""

    token: int
    step_key: str
    run_config: Any
    dagster_run: DagsterRun
    known_state: KnownExecutionState
    retry_mode: RetryMode
    repository_load_data: Any
    live_cap: int
    environ: dict[str, str]


def worker_main(conn: Connection, recon_job: ReconstructableJob, instance_ref: InstanceRef) -> None:
    """Run steps sent over ``conn`` until it sends None or closes."""
    with capture_interrupts(), DagsterInstance.from_ref(instance_ref) as instance:
        while True:
            try:
                command = conn.recv()
            except (EOFError, OSError):
                return
            if command is None:
                return
            _run_step(conn, command, recon_job, instance)


def _send(conn: Connection, command: StepCommand, kind: Kind, **fields: Any) -> None:
    conn.send(WorkerMessage(command.token, command.step_key, kind, **fields))


def _run_step(
    conn: Connection, command: StepCommand, recon_job: ReconstructableJob, instance: DagsterInstance
) -> None:
    if os.environ != command.environ:
        os.environ.clear()
        os.environ.update(command.environ)
    export_live_cap_env(command.dagster_run.run_id, command.live_cap)
    try:
        log_manager = create_context_free_log_manager(instance, command.dagster_run)
        started = DagsterEvent.step_worker_started(
            log_manager,
            command.dagster_run.job_name,
            message=f'Executing step "{command.step_key}" in worker process (pid {os.getpid()}).',
            metadata={
                "pid": str(os.getpid()),
                "live_cap": str(command.live_cap),
                **step_cgroup_metadata(),
            },
            step_key=command.step_key,
        )
        _send(conn, command, Kind.EVENT, event=started)
        plan = create_execution_plan(
            job=recon_job,
            run_config=command.run_config,
            step_keys_to_execute=[command.step_key],
            known_state=command.known_state,
            repository_load_data=command.repository_load_data,
        )
        for event in execute_plan_iterator(
            plan,
            recon_job,
            command.dagster_run,
            run_config=command.run_config,
            retry_mode=command.retry_mode,
            instance=instance,
        ):
            _send(conn, command, Kind.EVENT, event=event)
    except BaseException:
        _send(
            conn, command, Kind.ERROR, error=serializable_error_info_from_exc_info(sys.exc_info())
        )
    _send(conn, command, Kind.DONE)
