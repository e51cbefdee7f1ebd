"""Calls of a Dask step on the run's instance (see ``run_instance.py``), end to end.

A call travels with the step's events and comes back on a ``distributed.Queue`` of the launch:

1. the step's process (:class:`StepCaller`) pickles it into its pipe and waits on a reply pipe;
2. the Dask task that started the process publishes it on the run's topic, like an event, then
   waits on the launch's queue (:class:`ReplyRelay`) and writes the answer into the reply pipe;
3. the run process (:class:`RunInstanceCalls`, in the scheduler's thread) makes the call on its
   instance and puts the pickled answer on the queue.

The run process remembers the pool slots each launch claimed and did not free, and frees them
when the launch ends, however it ends. Pickle is safe here for the same reason Dask's own task
results are: only the run's client and its workers reach the scheduler.
"""

import contextlib
import inspect
import pickle
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from dagster import DagsterInstance

from orch_assets.executor.run_instance import INSTANCE_CALLS, STORAGE_CALLS

CALL_TIMEOUT_S = 60.0
"""How long a step waits for the run process to answer one call before it fails."""
RELAY_POLL_S = 0.25


class RunInstanceCallError(RuntimeError):
    """A call forwarded to the run's instance failed there, or got no answer."""


def reply_queue_name(run_id: str, token: int) -> str:
    return f"orch-{run_id}-{token}-replies"


class StepCaller:
    """In the step's process: one call at a time, through the task, to the run process."""

    def __init__(self, send: Callable[[str, Any], None], replies: Connection) -> None:
        self._send = send
        self._replies = replies
        self._lock = threading.Lock()
        self._last = 0

    def __call__(self, target: str, method: str, args: tuple[Any, ...], kwargs: dict) -> Any:
        with self._lock:
            self._last += 1
            self._send("call", pickle.dumps((self._last, target, method, args, kwargs)))
            while True:
                if not self._replies.poll(CALL_TIMEOUT_S):
                    raise RunInstanceCallError(
                        f"the run process did not answer {target}.{method} within "
                        f"{CALL_TIMEOUT_S:g} s (is it still running?)"
                    )
                call_id, ok, value = pickle.loads(self._replies.recv_bytes())
                if call_id == self._last:
                    break
        if not ok:
            raise RunInstanceCallError(f"{target}.{method} failed in the run process: {value}")
        return value


class ReplyRelay:
    """In the Dask task: waits for the answers to the step's calls on the launch's queue."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: Any = None

    def wait(self, give_up: Callable[[], bool]) -> bytes | None:
        """The next answer, or None once ``give_up()`` (the step was stopped, or has exited)."""
        from distributed import Queue

        if self._queue is None:
            self._queue = Queue(self._name)
        while True:
            try:
                return self._queue.get(timeout=RELAY_POLL_S)
            except TimeoutError:
                if give_up():
                    return None

    def close(self) -> None:
        if self._queue is not None:
            with contextlib.suppress(Exception):
                self._queue.close()


def _run_and_step(method: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[str, str]:
    bound = inspect.signature(method).bind(*args, **kwargs)
    return str(bound.arguments["run_id"]), str(bound.arguments["step_key"])


class RunInstanceCalls:
    """In the run process: answers the calls of the run's Dask steps on its instance."""

    def __init__(self, instance: DagsterInstance, run_id: str, client: Any) -> None:
        self._instance = instance
        self._run_id = run_id
        self._client = client
        self._queues: dict[int, Any] = {}
        self._held: dict[int, set[tuple[str, str]]] = {}

    def answer(self, token: int, payload: bytes) -> None:
        from distributed import Queue

        call_id, target, method, args, kwargs = pickle.loads(payload)
        try:
            reply = (call_id, True, self._make(token, target, method, args, kwargs))
            data = pickle.dumps(reply)
        except Exception as error:  # the step re-raises it, naming the call
            data = pickle.dumps((call_id, False, f"{type(error).__name__}: {error}"))
        # A reply that cannot be sent (the cluster is going away) must not end the scheduler's
        # loop: the step then fails after CALL_TIMEOUT_S, naming the call.
        with contextlib.suppress(Exception):
            if token not in self._queues:
                name = reply_queue_name(self._run_id, token)
                self._queues[token] = Queue(name, client=self._client)
            self._queues[token].put(data)

    def _make(self, token: int, target: str, method: str, args: tuple, kwargs: dict) -> Any:
        allowed = INSTANCE_CALLS if target == "instance" else STORAGE_CALLS
        if target not in ("instance", "storage") or method not in allowed:
            raise AttributeError(f"{target}.{method} is not forwarded to the run process")
        owner = self._instance if target == "instance" else self._instance.event_log_storage
        function = getattr(owner, method)
        if method == "claim_concurrency_slot":
            run_id, step_key = _run_and_step(function, args, kwargs)
            result = function(*args, **kwargs)
            self._held.setdefault(token, set()).add((run_id, step_key))
            return result
        if method == "free_concurrency_slot_for_step":
            self._held.get(token, set()).discard(_run_and_step(function, args, kwargs))
        return function(*args, **kwargs)

    def release(self, token: int) -> list[tuple[str, str]]:
        """The launch ended: free what its step claimed and never freed; returns those slots.

        A slot a later launch of the same step (a retry) has claimed again is left to it.
        """
        mine = self._held.pop(token, set())
        freed = sorted(mine.difference(*self._held.values()))
        storage = self._instance.event_log_storage
        for run_id, step_key in freed:
            storage.free_concurrency_slot_for_step(run_id, step_key)
        queue = self._queues.pop(token, None)
        if queue is not None:
            with contextlib.suppress(Exception):
                queue.close()
        return freed

    def release_all(self) -> None:
        for token in sorted({*self._held, *self._queues}):
            self.release(token)
