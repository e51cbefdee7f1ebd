"""Process mode: a pool of reusable worker processes, at most one step per worker at a time.

Workers are started on demand (forkserver by default: the server imports Dagster and the job's
module once, each worker is a fork of it) and reused while the live cap allows; idle workers
beyond the cap are retired so memory pressure also frees memory. A reader thread per worker
forwards its messages; the end of its pipe means the worker died, which becomes a ``CRASH``
message for the step it was running. Stopping a step kills its worker (SIGKILL) and terminates
the worker's descendants (a dbt subprocess, say); the worker is not reused.
"""

import multiprocessing
import os
import queue
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import psutil

from orch_assets.executor._internals import (
    DagsterEvent,
    ExecutionPlan,
    ExecutionStep,
    KnownExecutionState,
    PlanOrchestrationContext,
)
from orch_assets.executor.config import AdaptiveSettings
from orch_assets.executor.messages import Kind, StopKind, WorkerMessage, drain
from orch_assets.executor.ownership import terminate_in_background
from orch_assets.executor.process_worker import StepCommand, worker_main

WORKER_MODULE = "orch_assets.executor.process_worker"


class _Worker:
    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.token: int | None = None
        self.step_key = ""
        self.doomed = False


class ProcessLauncher:
    """Runs steps in reused child processes."""

    def __init__(
        self,
        plan_context: PlanOrchestrationContext,
        execution_plan: ExecutionPlan,
        settings: AdaptiveSettings,
    ) -> None:
        self._plan_context = plan_context
        self._plan = execution_plan
        self._job = plan_context.reconstructable_job
        self._instance_ref = plan_context.instance.get_ref()
        self._mp = multiprocessing.get_context(settings.start_method)
        if settings.start_method == "forkserver":
            module = self._job.get_module()
            self._mp.set_forkserver_preload([WORKER_MODULE, module or "dagster"])  # type: ignore[attr-defined]
        self._retry_mode = settings.retries.for_inner_plan()
        self._inbox: queue.Queue[WorkerMessage] = queue.Queue()
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: dict[int, _Worker] = {}

    def _start_worker(self) -> _Worker:
        parent_conn, child_conn = self._mp.Pipe()
        process = self._mp.Process(
            target=worker_main,
            args=(child_conn, self._job, self._instance_ref),
            name="orch-step-worker",
        )
        process.start()
        child_conn.close()
        worker = _Worker(process, parent_conn)
        threading.Thread(target=self._read, args=(worker,), daemon=True).start()
        return worker

    def _read(self, worker: _Worker) -> None:
        while True:
            try:
                message: WorkerMessage = worker.conn.recv()
            except (EOFError, OSError):
                break
            if message.kind is Kind.DONE:
                with self._lock:
                    self._busy.pop(message.token, None)
                    worker.token = None
                    if not worker.doomed:
                        self._idle.append(worker)
            self._inbox.put(message)
        worker.process.join(timeout=5)
        with self._lock:
            token, worker.token = worker.token, None
            if worker in self._idle:
                self._idle.remove(worker)
            if token is not None:
                self._busy.pop(token, None)
        if token is not None:
            self._inbox.put(
                WorkerMessage(token, worker.step_key, Kind.CRASH, exit_code=worker.process.exitcode)
            )

    def launch(
        self, step: ExecutionStep, token: int, known_state: KnownExecutionState, live_cap: int
    ) -> Sequence[DagsterEvent]:
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        reused = worker is not None
        worker = worker or self._start_worker()
        with self._lock:
            worker.token, worker.step_key = token, step.key
            self._busy[token] = worker
        worker.conn.send(
            StepCommand(
                token=token,
                step_key=step.key,
                run_config=self._plan_context.run_config,
                dagster_run=self._plan_context.dagster_run,
                known_state=known_state,
                retry_mode=self._retry_mode,
                repository_load_data=self._plan.repository_load_data,
                live_cap=live_cap,
                environ=dict(os.environ),
            )
        )
        how = f"reused worker process (pid {worker.process.pid})" if reused else "new worker process"
        return [
            DagsterEvent.step_worker_starting(
                self._plan_context.for_step(step),
                f'Launching step "{step.key}" in a {how}.',
                metadata={"pid": str(worker.process.pid)},
            )
        ]

    def stop(self, token: int, kind: StopKind, detail: str) -> None:
        with self._lock:
            worker = self._busy.get(token)
            if worker is None or worker.doomed:
                return
            worker.doomed = True
        try:
            root = psutil.Process(worker.process.pid)
            children = root.children(recursive=True)
            root.kill()
        except psutil.NoSuchProcess:
            return
        terminate_in_background(children)

    def abandon(self, token: int) -> bool:
        with self._lock:
            worker = self._busy.pop(token, None)
        if worker is not None and worker.process.is_alive():
            worker.doomed = True
            worker.process.kill()
        return False

    def poll(self, timeout: float) -> list[WorkerMessage]:
        return drain(self._inbox, timeout)

    def fit_to_cap(self, cap: int) -> None:
        with self._lock:
            surplus = len(self._idle) + len(self._busy) - cap
            retired = [self._idle.pop() for _ in range(min(max(0, surplus), len(self._idle)))]
        for worker in retired:
            worker.doomed = True
            worker.conn.send(None)

    def close(self) -> None:
        with self._lock:
            workers = self._idle + list(self._busy.values())
            self._idle, self._busy = [], {}
        for worker in workers:
            worker.doomed = True
            try:
                worker.conn.send(None)
            except OSError:
                continue
        for worker in workers:
            worker.process.join(timeout=3)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=3)
