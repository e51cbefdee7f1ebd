"""One model gate per run, shared by every simulation of the run (``all_scenarios``).

When several simulations run in one run, each in its own worker, the class limits and the live
cap must hold for the models of all of them together. The workers then gate no model themselves:
each ready node is a ``slot_request`` (id, class) on the worker's protocol, the run process grants
it here (``{"type": "grant", "id": N}`` on the worker's control channel) when the run's total is
under the live cap, its class under its limit and the worker under its own dbt threads, and the
worker's ``slot_release`` frees the slot. Requests are served in arrival order, skipping those
that cannot start yet, so a node waiting for its class never holds back another class.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from orch_assets.executor import live_cap

Send = Callable[[Mapping[str, object]], bool]


@dataclass
class _Request:
    worker: int
    request_id: int
    execution_class: str | None


class RunModelGate:
    def __init__(self, run_id: str, class_limits: Mapping[str, int | None]) -> None:
        self.run_id = run_id
        self.class_limits = dict(class_limits)
        self._lock = threading.Lock()
        self._queue: list[_Request] = []
        self._running: Counter[str | None] = Counter()
        self._per_worker: Counter[int] = Counter()
        self._held: dict[tuple[int, int], str | None] = {}
        self._workers: dict[int, tuple[Send, int]] = {}
        self.peak = 0

    def join(self, worker: int, send: Send, threads: int) -> None:
        with self._lock:
            self._workers[worker] = (send, max(1, threads))

    def leave(self, worker: int) -> None:
        """The worker ended: its queued requests go and the slots it held are freed."""
        with self._lock:
            self._workers.pop(worker, None)
            self._queue = [r for r in self._queue if r.worker != worker]
            for (owner, request_id), cls in list(self._held.items()):
                if owner == worker:
                    del self._held[(owner, request_id)]
                    self._running[cls] -= 1
                    self._per_worker[owner] -= 1
        self.grant_ready()

    def handle(self, worker: int, message: Mapping[str, object]) -> None:
        """A worker's ``slot_request`` or ``slot_release``."""
        cls = message.get("class")
        key = (worker, int(message["id"]))  # type: ignore[arg-type]
        with self._lock:
            if message["type"] == "slot_request":
                self._queue.append(_Request(worker, key[1], str(cls) if cls else None))
            elif key in self._held:
                released = self._held.pop(key)
                self._running[released] -= 1
                self._per_worker[worker] -= 1
        self.grant_ready()

    def grant_ready(self) -> None:
        """Grants every queued request that may start now (also called when the cap changes)."""
        grants: list[tuple[Send, int]] = []
        with self._lock:
            cap = live_cap(self.run_id)
            for request in list(self._queue):
                send, threads = self._workers.get(request.worker, (None, 0))
                limit = (
                    self.class_limits.get(request.execution_class)
                    if request.execution_class
                    else None
                )
                if send is None or (cap is not None and sum(self._running.values()) >= cap):
                    continue
                if self._per_worker[request.worker] >= threads:
                    continue
                if limit is not None and self._running[request.execution_class] >= limit:
                    continue
                self._queue.remove(request)
                self._held[(request.worker, request.request_id)] = request.execution_class
                self._running[request.execution_class] += 1
                self._per_worker[request.worker] += 1
                grants.append((send, request.request_id))
            self.peak = max(self.peak, sum(self._running.values()))
        for send, request_id in grants:
            send({"type": "grant", "id": request_id})


_gates: dict[str, RunModelGate] = {}
_gates_lock = threading.Lock()


def run_model_gate(run_id: str, class_limits: Mapping[str, int | None]) -> RunModelGate:
    """The run's shared gate (one per run id in this process)."""
    with _gates_lock:
        if run_id not in _gates:
            _gates[run_id] = RunModelGate(run_id, class_limits)
        return _gates[run_id]
