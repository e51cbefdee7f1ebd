"""Crash isolation in thread and sequential mode: tagged steps run in a child process.

A step tagged ``orch/isolate: process`` (op tag, or a tag of its assets) runs in a worker
process of process mode (``process_launcher``) while the run's other steps run in threads. A
step that ends its process (``os._exit``, a segfault in a C extension, the OOM killer) then
fails that step (``ChildProcessCrashException``, retried by its policy) instead of taking the run
process, and every step running in it, down with it.

Both launchers report into one inbox, so the scheduler waits on one queue. The worker processes
are started on the first isolated launch, reused by later isolated steps of the run, and shut
down with the run. Like process mode, an isolated step builds its own resources and needs a
persistent IO manager for its inputs and outputs and a non-ephemeral instance.
"""

from collections.abc import Callable, Sequence

from orch_assets.executor._internals import (
    DagsterEvent,
    ExecutionStep,
    KnownExecutionState,
)
from orch_assets.executor.messages import Kind, StepLauncher, StopKind, WorkerMessage
from orch_assets.executor.process_launcher import ProcessLauncher
from orch_assets.executor.thread_launcher import ThreadLauncher


class IsolatingLauncher:
    """Threads for most steps, worker processes for the steps ``isolated`` picks."""

    def __init__(
        self,
        threads: ThreadLauncher,
        isolated: Callable[[ExecutionStep], bool],
        processes: Callable[[ThreadLauncher], ProcessLauncher],
    ) -> None:
        self._threads = threads
        self._isolated = isolated
        self._make_processes = processes
        self._processes: ProcessLauncher | None = None
        self._owners: dict[int, StepLauncher] = {}

    def launch(
        self, step: ExecutionStep, token: int, known_state: KnownExecutionState, live_cap: int
    ) -> Sequence[DagsterEvent]:
        launcher: StepLauncher = self._threads
        if self._isolated(step):
            if self._processes is None:
                self._processes = self._make_processes(self._threads)
            launcher = self._processes
        self._owners[token] = launcher
        return launcher.launch(step, token, known_state, live_cap)

    def stop(self, token: int, kind: StopKind, detail: str) -> None:
        launcher = self._owners.get(token)
        if launcher is not None:
            launcher.stop(token, kind, detail)

    def abandon(self, token: int) -> bool:
        launcher = self._owners.pop(token, None)
        return launcher.abandon(token) if launcher is not None else False

    def poll(self, timeout: float) -> list[WorkerMessage]:
        """Both launchers report into the thread launcher's inbox."""
        messages = self._threads.poll(timeout)
        for message in messages:
            if message.kind in (Kind.DONE, Kind.CRASH):
                self._owners.pop(message.token, None)
        return messages

    def fit_to_cap(self, cap: int) -> None:
        if self._processes is not None:
            self._processes.fit_to_cap(cap)

    def close(self) -> None:
        try:
            self._threads.close()
        finally:
            if self._processes is not None:
                self._processes.close()
