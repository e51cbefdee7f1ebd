"""Process mode: a pool of reusable worker processes, at most one step per worker at a time.

Workers are started on demand (forkserver by default: the server imports Dagster and the job's
module once, each worker is a fork of it) and reused while the live cap allows; idle workers
beyond the cap are retired so memory pressure also frees memory. A reader thread per worker
forwards its messages; the end of its pipe means the worker died, which becomes a ``CRASH``
message for the step it was running. Stopping a step kills its worker (SIGKILL) and terminates
the worker's descendants (a dbt subprocess, say); the worker is not reused. A step whose worker
died before it finished (stopped, or crashed) cannot free the instance pool slots it claimed
itself: the reader thread frees them as soon as the worker and the descendants it was stopped
with are gone, instead of leaving them to the daemon's ``free_slots_after_run_end_seconds``.
"""

import os
import queue
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess

import psutil

from orch_assets.executor._internals import (
    EXECUTION_API_MODULE,
    DagsterEvent,
    EngineEventData,
    ExecutionPlan,
    ExecutionStep,
    KnownExecutionState,
    PlanOrchestrationContext,
)
from orch_assets.executor.config import AdaptiveSettings
from orch_assets.executor.forkserver import worker_context
from orch_assets.executor.messages import Kind, StopKind, WorkerMessage, drain
from orch_assets.executor.ownership import terminate_in_background
from orch_assets.executor.process_worker import StepCommand, worker_main

WORKER_MODULE = "orch_assets.executor.process_worker"
IDLE_WAIT_S = 2.0
# How long a stopped step's descendants may take to exit before its slots are freed anyway.
SLOT_RELEASE_WAIT_S = 10.0


class _Worker:
    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.token: int | None = None
        self.step_key = ""
        self.doomed = False
        self.finishing = False
        # Descendants of the worker when it was stopped: gone before its step's slots are freed.
        self.descendants: list[psutil.Process] = []


class ProcessLauncher:
    """Runs steps in reused child processes."""

    def __init__(
        self,
        plan_context: PlanOrchestrationContext,
        execution_plan: ExecutionPlan,
        settings: AdaptiveSettings,
        inbox: "queue.Queue[WorkerMessage] | None" = None,
    ) -> None:
        self._plan_context = plan_context
        self._plan = execution_plan
        self._job = plan_context.reconstructable_job
        self._instance_ref = plan_context.instance.get_ref()
        self._mp, self._fork_notice = worker_context(settings.start_method)
        if isinstance(self._mp, ForkServerContext):
            self._mp.set_forkserver_preload(self._preload_modules())
        self._retry_mode = settings.retries.for_inner_plan()
        self._inbox: queue.Queue[WorkerMessage] = inbox if inbox is not None else queue.Queue()
        self._lock = threading.Condition()
        self._idle: list[_Worker] = []
        self._busy: dict[int, _Worker] = {}

    def _preload_modules(self) -> list[str]:
        """What the forkserver imports once: the worker, the job's module, the instance's storage.

        Without the storage modules every new worker spends ~0.5 s importing them on 2 cores.
        Only effective when this process starts its forkserver (the first process-mode run).
        """
        modules = (getattr(value, "module_name", None) for value in self._instance_ref)
        storage_modules = {module for module in modules if isinstance(module, str)}
        return [
            WORKER_MODULE,
            EXECUTION_API_MODULE,
            *sorted(storage_modules),
            self._job.get_module() or "dagster",
        ]

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
            event = message.event
            if event is not None and (
                event.is_step_success or event.is_step_failure or event.is_step_up_for_retry
            ):
                worker.finishing = True
            if message.kind is Kind.DONE:
                with self._lock:
                    self._busy.pop(message.token, None)
                    worker.token, worker.finishing = None, False
                    if not worker.doomed:
                        self._idle.append(worker)
                        self._lock.notify()
            self._inbox.put(message)
        worker.process.join(timeout=5)
        with self._lock:
            token, worker.token = worker.token, None
            if worker in self._idle:
                self._idle.remove(worker)
            if token is not None:
                self._busy.pop(token, None)
        if token is not None:
            self._free_step_slots(worker)
            self._inbox.put(
                WorkerMessage(token, worker.step_key, Kind.CRASH, exit_code=worker.process.exitcode)
            )

    def _free_step_slots(self, worker: _Worker) -> None:
        """Frees the pool slots the dead worker's step held, once its process tree is gone."""
        psutil.wait_procs(worker.descendants, timeout=SLOT_RELEASE_WAIT_S)
        storage = self._plan_context.instance.event_log_storage
        if storage.supports_global_concurrency_limits:
            storage.free_concurrency_slot_for_step(self._plan_context.run_id, worker.step_key)

    def _idle_worker(self, live_cap: int) -> _Worker | None:
        """An idle worker, waiting for one when a worker is about to become free.

        A step's terminal event arrives a moment before its worker reports done (teardown), so
        the launch that the event triggers would otherwise start a new worker (0.1-1 s) when
        one is milliseconds away from idle.
        """
        with self._lock:
            finishing = any(worker.finishing for worker in self._busy.values())
            if not self._idle and (finishing or len(self._busy) >= live_cap):
                self._lock.wait_for(lambda: bool(self._idle), timeout=IDLE_WAIT_S)
            return self._idle.pop() if self._idle else None

    def launch(
        self, step: ExecutionStep, token: int, known_state: KnownExecutionState, live_cap: int
    ) -> Sequence[DagsterEvent]:
        command = StepCommand(
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
        worker = self._idle_worker(live_cap)
        reused = worker is not None
        if worker is not None and not self._send(worker, command):
            reused, worker = False, None
        if worker is None:
            worker = self._start_worker()
            if not self._send(worker, command):
                raise RuntimeError(f'A new worker process for step "{step.key}" died at start.')
        how = (
            f"reused worker process (pid {worker.process.pid})" if reused else "new worker process"
        )
        notices = self._take_fork_notice()
        return [
            *notices,
            DagsterEvent.step_worker_starting(
                self._plan_context.for_step(step),
                f'Launching step "{step.key}" in a {how}.',
                metadata={"pid": str(worker.process.pid)},
            ),
        ]

    def _take_fork_notice(self) -> list[DagsterEvent]:
        """The engine event about an inherited forkserver, once, with the run's first launch."""
        notice, self._fork_notice = self._fork_notice, None
        if notice is None:
            return []
        return [DagsterEvent.engine_event(self._plan_context, notice, EngineEventData())]

    def _send(self, worker: _Worker, command: StepCommand) -> bool:
        """Hand a step to a worker; False if the worker was found dead and the launch withdrawn.

        If the worker's reader saw it die first, it already reported a crash for this launch,
        so the launch is left to fail (or retry) through that report.
        """
        with self._lock:
            worker.token, worker.step_key = command.token, command.step_key
            self._busy[command.token] = worker
        try:
            worker.conn.send(command)
            return True
        except OSError:
            with self._lock:
                worker.doomed = True
                if worker.token != command.token:
                    return True
                worker.token = None
                self._busy.pop(command.token, None)
            return False

    def stop(self, token: int, kind: StopKind, detail: str) -> None:
        with self._lock:
            worker = self._busy.get(token)
            if worker is None or worker.doomed:
                return
            worker.doomed = True
        try:
            root = psutil.Process(worker.process.pid)
            children = root.children(recursive=True)
            worker.descendants = children
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
