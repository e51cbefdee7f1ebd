"""Dask mode, run-process side: submit steps as Dask tasks and turn their stream into messages.

Each launch is one Dask task (:func:`orch_assets.executor.dask_worker.run_step`). The task
streams what its step writes (see ``dask_worker``) as Dask structured events on a topic of the
run; a client subscription queues them, and :meth:`DaskLauncher.poll`, in the scheduler's
thread, writes each entry to the run's instance and hands its Dagster event to the scheduler,
exactly as process mode does with its workers' pipes. Entries of a stopped launch are dropped,
like the logs of a stopped thread. Calls a step makes on the run's instance (``dask_calls``) are
answered there too, and when a launch ends the pool slots its step claimed and did not free are
freed.

A step is lost when its worker dies: Dask re-runs the task elsewhere, the copy finds the launch
already claimed and returns without running, and the launch becomes a ``CRASH`` naming the
worker that died, so the retry policy (a new launch) or the failure applies.
"""

import contextlib
import os
import queue
import time
from collections.abc import Sequence
from typing import Any

from orch_assets.executor._internals import (
    DagsterEvent,
    ExecutionPlan,
    ExecutionStep,
    KnownExecutionState,
    PlanOrchestrationContext,
    SerializableErrorInfo,
)
from orch_assets.executor.config import AdaptiveSettings
from orch_assets.executor.dask_calls import RunInstanceCalls, reply_queue_name
from orch_assets.executor.dask_capacity import ClusterCapacityMonitor
from orch_assets.executor.dask_cluster import MEMORY_RESOURCE, DaskCluster
from orch_assets.executor.dask_lease import RunLease, lease_name
from orch_assets.executor.dask_step import DaskStep, decode
from orch_assets.executor.dask_worker import run_step
from orch_assets.executor.messages import Kind, StopKind, WorkerMessage, drain
from orch_assets.executor.process_worker import StepCommand
from orch_assets.executor.run_instance import RUN_PROCESS_ENV, run_process_identity

FORWARDED_ENV_PREFIXES = ("ORCH_",)
"""Environment of the run process that steps see on the workers (``ORCH_*`` only)."""
DONE_GRACE_S = 5.0
"""How long a task may have returned before its stream's last message arrives."""


def _crash_error(message: str) -> SerializableErrorInfo:
    return SerializableErrorInfo(message=message, stack=[], cls_name="DaskWorkerLostError")


class DaskLauncher:
    """Runs steps as tasks on a Dask cluster."""

    def __init__(
        self,
        plan_context: PlanOrchestrationContext,
        execution_plan: ExecutionPlan,
        settings: AdaptiveSettings,
        cluster: DaskCluster,
        monitor: ClusterCapacityMonitor,
    ) -> None:
        self._ctx = plan_context
        self._plan = execution_plan
        self._settings = settings
        self._cluster = cluster
        self._monitor = monitor
        self._instance = plan_context.instance
        self._run_id = plan_context.run_id
        self._topic = f"orch-steps-{self._run_id}"
        self._raw: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self._futures: dict[int, Any] = {}
        self._steps: dict[int, str] = {}
        self._worker_of: dict[int, str] = {}
        self._ended: set[int] = set()
        self._stopped: set[int] = set()
        self._lost_at: dict[int, float] = {}
        self._retry_mode = settings.retries.for_inner_plan()
        self._calls = RunInstanceCalls(self._instance, self._run_id, cluster.client)
        self._supports_pools = self._instance.event_log_storage.supports_global_concurrency_limits
        self._run_process = run_process_identity()
        self._compute_logs = getattr(self._instance.compute_log_manager, "inst_data", None)
        cluster.client.subscribe_topic(self._topic, self._raw.put)
        self._lease = RunLease(cluster.client, self._run_id)

    def _names(self, token: int) -> tuple[str, str]:
        base = f"orch-{self._run_id}-{token}"
        return f"{base}-stop", f"{base}-claim"

    def launch(
        self, step: ExecutionStep, token: int, known_state: KnownExecutionState, live_cap: int
    ) -> Sequence[DagsterEvent]:
        environ = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}
        environ[RUN_PROCESS_ENV] = self._run_process
        command = StepCommand(
            token=token,
            step_key=step.key,
            run_config=self._ctx.run_config,
            dagster_run=self._ctx.dagster_run,
            known_state=known_state,
            retry_mode=self._retry_mode,
            repository_load_data=self._plan.repository_load_data,
            live_cap=live_cap,
            environ=environ,
        )
        stop_name, claim_name = self._names(token)
        payload = DaskStep(
            topic=self._topic,
            stop_event=stop_name,
            claim_event=claim_name,
            lease=lease_name(self._run_id),
            recon_job=self._ctx.reconstructable_job,
            command=command,
            artifact_dir=self._instance.root_directory,
            reply_queue=reply_queue_name(self._run_id, token),
            supports_pools=self._supports_pools,
            compute_logs=self._compute_logs,
        )
        need = self._settings.memory_per_step_gb
        headroom = list(self._monitor.headroom)
        future = self._cluster.client.submit(
            run_step,
            payload,
            key=f"orch-step-{step.key}-{self._run_id[:8]}-{token}",
            pure=False,
            retries=0,
            resources={MEMORY_RESOURCE: need} if need else None,
            **({"workers": headroom, "allow_other_workers": True} if headroom else {}),
        )
        self._futures[token] = future
        self._steps[token] = step.key
        future.add_done_callback(lambda _, token=token: self._raw.put((0.0, {"future": token})))
        preferred = (
            f" (preferring workers with headroom: {', '.join(headroom)})" if headroom else ""
        )
        return [
            DagsterEvent.step_worker_starting(
                self._ctx.for_step(step),
                f'Submitting step "{step.key}" to the Dask cluster at {self._cluster.address}'
                f"{preferred}.",
                metadata={"dask_key": str(future.key), "dask_scheduler": self._cluster.address},
            )
        ]

    def poll(self, timeout: float) -> list[WorkerMessage]:
        messages: list[WorkerMessage] = []
        for _, raw in drain(self._raw, timeout):
            message = self._translate(raw)
            if message is not None:
                messages.append(message)
        now = time.monotonic()
        for token, since in list(self._lost_at.items()):
            if token in self._ended:
                self._lost_at.pop(token)
            elif now - since > DONE_GRACE_S:
                self._lost_at.pop(token)
                messages.append(
                    self._lost(token, "its task returned but its last events never came")
                )
        return messages

    def _translate(self, raw: dict[str, Any]) -> WorkerMessage | None:
        if "future" in raw:
            return self._future_finished(raw["future"])
        token, step_key, kind = raw["token"], raw["step_key"], raw["kind"]
        if token in self._ended:
            return None
        if kind == "started":
            self._worker_of[token] = raw["worker"]
            return None
        if kind == "entry":
            if token in self._stopped:
                return None
            entry = decode(raw["payload"])
            self._instance.handle_new_event(entry)
            if entry.dagster_event is None:
                return None
            return WorkerMessage(token, step_key, Kind.EVENT, event=entry.dagster_event)
        if kind == "call":
            self._calls.answer(token, raw["payload"])
            return None
        if kind == "tags":
            if token not in self._stopped:
                tags = raw["payload"]
                self._instance.add_run_tags(tags["run_id"], tags["tags"])
            return None
        if kind == "error":
            return WorkerMessage(token, step_key, Kind.ERROR, error=decode(raw["payload"]))
        self._end(token)
        if kind == "done":
            return WorkerMessage(token, step_key, Kind.DONE)
        exit_code = raw.get("exit_code")
        error = None
        if not raw.get("stopped"):
            error = _crash_error(
                f'The process of step "{step_key}" on Dask worker {raw["worker"]} ended '
                f"(exit code {exit_code}) before the step finished."
            )
        return WorkerMessage(token, step_key, Kind.CRASH, error=error, exit_code=exit_code)

    def _future_finished(self, token: int) -> WorkerMessage | None:
        future = self._futures.pop(token, None)
        if future is None or token in self._ended or future.status == "cancelled":
            return None
        if future.status == "error":
            error = future.exception()
            why = f"Dask reported {type(error).__name__}: {error}"
            if type(error).__name__ == "KilledWorker":
                return self._lost(token, why)
            return self._task_failed(token, why)
        result = future.result()
        if not result.get("ran"):
            return self._lost(token, f"Dask re-ran its task on {result.get('worker')}")
        self._lost_at.setdefault(token, time.monotonic())
        return None

    def _end(self, token: int) -> None:
        """The launch is over: free the pool slots its step claimed and did not free."""
        self._ended.add(token)
        self._calls.release(token)

    def _lost(self, token: int, why: str) -> WorkerMessage:
        self._end(token)
        step_key = self._steps.get(token, "")
        worker = self._worker_of.get(token)
        where = f"Dask worker {worker}" if worker else "its Dask worker (it never started)"
        error = _crash_error(
            f'Step "{step_key}" was lost: {where} left the cluster while running it ({why}).'
        )
        return WorkerMessage(token, step_key, Kind.CRASH, error=error, exit_code=-1)

    def _task_failed(self, token: int, why: str) -> WorkerMessage:
        self._end(token)
        step_key = self._steps.get(token, "")
        worker = self._worker_of.get(token, "its Dask worker")
        error = _crash_error(f'The Dask task of step "{step_key}" failed on {worker}: {why}')
        return WorkerMessage(token, step_key, Kind.CRASH, error=error, exit_code=1)

    def stop(self, token: int, kind: StopKind, detail: str) -> None:
        if token in self._stopped or token in self._ended:
            return
        from distributed import Event

        self._stopped.add(token)
        stop_name, _ = self._names(token)
        Event(stop_name, client=self._cluster.client).set()
        future = self._futures.get(token)
        if future is not None and token not in self._worker_of:
            future.cancel()

    def abandon(self, token: int) -> bool:
        """A stopped launch that never reported: if its task never started, it is over."""
        if token not in self._worker_of and token not in self._ended:
            step_key = self._steps.get(token, "")
            self._raw.put((0.0, {"token": token, "step_key": step_key, "kind": "done"}))
        return False

    def fit_to_cap(self, cap: int) -> None:
        return None

    def close(self) -> None:
        for token, future in list(self._futures.items()):
            if token not in self._ended:
                future.cancel()
        self._calls.release_all()
        self._lease.close()
        with contextlib.suppress(ValueError, OSError):
            self._cluster.client.unsubscribe_topic(self._topic)
