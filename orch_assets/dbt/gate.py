"""Execution classes and the live cap for the models inside one dbt build.

dbt hands every ready node to its thread pool at once; :class:`GatedPool` stands in for that pool
(see :mod:`orch_assets.dbt._dbt_internals`) and keeps the ready nodes in a list of its own. A node
goes to the real pool only when :class:`Gate` admits it: fewer than the live cap running in total
and fewer than its class limit running of its class. Because a node is submitted only once it may
run, the pool's threads never wait for a slot, so a model waiting for its class never holds a
thread that a ready model of another class could use; dbt ``--threads`` is the ceiling.

When several ready nodes may start, the one dbt made ready first goes first.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orch_assets.dbt._dbt_internals import node_execution_class, submitted_node
from orch_assets.dbt.run_slots import RunSlots


class Gate:
    """Class limits and the live cap; one gate serves every dbt invocation of a worker.

    ``class_limits[c]`` is the most nodes of class ``c`` at once (None: up to the cap); nodes
    without a class (tests, seeds) count against the cap only. ``on_cap_change(old, new)`` is
    called once per change of the effective cap (``min(cap, ceiling)``).

    With ``run_slots`` (several gated dbt processes in one run) the class limits and the cap
    hold for the models of all of them together as well (:mod:`orch_assets.dbt.run_slots`); a
    slot freed by another process is noticed on the next :meth:`wake`.
    """

    def __init__(
        self,
        class_limits: Mapping[str, int | None],
        ceiling: int,
        cap: int | None = None,
        on_cap_change: Callable[[int, int], None] | None = None,
        run_slots: RunSlots | None = None,
    ) -> None:
        self.class_limits = dict(class_limits)
        self.ceiling = max(1, ceiling)
        self.lock = threading.RLock()
        self.run_slots = run_slots
        # The run's cap as given (the run-wide total); _cap is this process's, within ceiling.
        self._run_cap = cap
        self._cap = self.ceiling if cap is None else max(1, min(cap, self.ceiling))
        self._on_cap_change = on_cap_change
        self._running: Counter[str | None] = Counter()
        self._listeners: list[Callable[[], None]] = []

    @property
    def cap(self) -> int:
        return self._cap

    def set_cap(self, cap: int) -> None:
        new = max(1, min(int(cap), self.ceiling))
        with self.lock:
            old, self._cap = self._cap, new
            self._run_cap = max(1, int(cap))
            listeners = list(self._listeners)
        if new != old:
            if self._on_cap_change is not None:
                self._on_cap_change(old, new)
            for wake in listeners:
                wake()

    def admits(self, execution_class: str | None) -> bool:
        """Whether a node of this class may start now (caller holds ``lock``)."""
        if sum(self._running.values()) >= self._cap:
            return False
        limit = self.class_limits.get(execution_class) if execution_class else None
        return limit is None or self._running[execution_class] < limit

    def take(self, execution_class: str | None) -> None:
        self._running[execution_class] += 1

    def try_take(self, execution_class: str | None) -> bool:
        """Takes a slot when a node of this class may start now, here and (with run slots) in
        the whole run (caller holds ``lock``)."""
        if not self.admits(execution_class):
            return False
        if self.run_slots is not None:
            limit = self.class_limits.get(execution_class) if execution_class else None
            if not self.run_slots.try_take(execution_class, limit, self._run_cap):
                return False
        self.take(execution_class)
        return True

    def give_back(self, execution_class: str | None) -> None:
        with self.lock:
            self._running[execution_class] -= 1
            if self.run_slots is not None:
                self.run_slots.give_back(execution_class)

    def wake(self) -> None:
        """Lets waiting nodes try again (a slot may have been freed in another process)."""
        with self.lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def listen(self, wake: Callable[[], None]) -> Callable[[], None]:
        with self.lock:
            self._listeners.append(wake)

        def unlisten() -> None:
            with self.lock:
                self._listeners.remove(wake)

        return unlisten


@dataclass
class _Pending:
    seq: int
    unique_id: str
    execution_class: str | None
    ready: float
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwds: dict[str, Any]
    callback: Callable[[Any], None] | None
    error_callback: Callable[[BaseException], None] | None
    admitted: float | None = None


_SEQUENCE = itertools.count()


class GatedPool:
    """Stands in for dbt's thread pool during one invocation; see the module docstring.

    ``classify`` gives a dbt node's execution class (default: its ``meta.execution_class``).
    """

    def __init__(
        self,
        pool: Any,
        gate: Gate,
        classify: Callable[[Any], str | None] = node_execution_class,
    ) -> None:
        self._pool = pool
        self._classify = classify
        self._gate = gate
        self._pending: list[_Pending] = []
        self._seq = _SEQUENCE
        self._unlisten = gate.listen(self._dispatch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    def apply_async(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...] | list[Any] = (),
        kwds: dict[str, Any] | None = None,
        callback: Callable[[Any], None] | None = None,
        error_callback: Callable[[BaseException], None] | None = None,
    ) -> None:
        node = submitted_node(args)
        item = _Pending(
            next(self._seq), node.unique_id, self._classify(node), time.time(), func,
            tuple(args), dict(kwds or {}), callback, error_callback,
        )  # fmt: skip
        with self._gate.lock:
            self._pending.append(item)
        self._dispatch()

    def _submit(self, item: _Pending) -> None:
        self._pool.apply_async(
            self._run,
            args=(item,),
            callback=item.callback,
            error_callback=item.error_callback,
        )

    def detach(self) -> None:
        """Stop following cap changes (the invocation that used this pool has ended)."""
        self._unlisten()

    def _dispatch(self) -> None:
        chosen: list[_Pending] = []
        with self._gate.lock:
            # In the order dbt made them ready; a node that may not start yet never holds back
            # another.
            for item in list(self._pending):
                if self._gate.try_take(item.execution_class):
                    self._pending.remove(item)
                    item.admitted = time.time()
                    chosen.append(item)
        for item in chosen:
            self._submit(item)

    def _run(self, item: _Pending) -> Any:
        try:
            return item.func(*item.args, **item.kwds)
        finally:
            self._gate.give_back(item.execution_class)
            self._dispatch()
