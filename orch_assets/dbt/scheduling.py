"""Worker side of model scheduling: one :class:`Gate` per worker, one gated pool per dbt build.

The request carries the run's ``class_limits`` (the executor's settings), the cap when the
worker starts, the ordering (``critical_path`` or ``dbt``) and per-node seconds recorded by
earlier runs. Cap changes arrive on the control channel as ``{"type": "cap", "cap": N}``.
Each year's measured node times feed the critical-path priority of the following years.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from orch_assets.dbt._dbt_internals import wrapped_thread_pool
from orch_assets.dbt.gate import Gate, GatedPool, NodeTiming, critical_path_priority

ORDERS = ("critical_path", "dbt")


def _epoch(value: str | None) -> float | None:
    """dbt's naive-UTC ISO timestamps as epoch seconds."""
    if not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc).timestamp()


def _thread_number(name: str) -> tuple[int, str]:
    digits = re.search(r"\d+", name)
    return (int(digits.group()) if digits else -1, name)


def thread_lanes(names: Iterable[str]) -> dict[str, int]:
    """Each thread of one build -> 1, 2, ... in the order Python numbered them.

    dbt starts a new thread pool per invocation, so the names run on from build to build
    (``Thread-1`` and ``Thread-2`` in the first year, ``Thread-3`` and ``Thread-4`` in the next);
    the lane is the thread's place in its own build, the same set every year.
    """
    return {name: lane for lane, name in enumerate(sorted(set(names), key=_thread_number), 1)}


class BuildScheduler:
    def __init__(self, request: Mapping[str, Any], send: Callable[..., None]) -> None:
        self.send = send
        self.gated = bool(request.get("gated", True))
        # Several simulations in one run: the run process grants every slot (run_gate.py).
        self.shared = bool(request.get("shared_gate", False))
        self._pools: list[GatedPool] = []
        self.order = request.get("order", "dbt")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {self.order!r}")
        self.seconds: dict[str, float] = dict(request.get("node_seconds") or {})
        self._observed: list[tuple[str, str | None, str, float, float]] | None = None
        limits = request.get("class_limits") or {}
        self.gate = Gate(
            {name: (None if v is None else int(v)) for name, v in limits.items()},
            ceiling=int(request["threads"]),
            cap=request.get("cap"),
            on_cap_change=lambda old, new: send("cap", previous=old, cap=new),
        )

    def on_control(self, message: Mapping[str, Any]) -> None:
        if message.get("type") == "cap":
            self.gate.set_cap(int(message["cap"]))
        elif message.get("type") == "grant":
            for pool in list(self._pools):
                if pool.grant(int(message["id"])):
                    break

    def _priority(self, manifest: Any) -> dict[str, float]:
        if self.order != "critical_path" or not self.seconds:
            return {}
        return critical_path_priority(manifest.child_map, self.seconds)

    def observe_finished(
        self,
        node_info: Mapping[str, Any],
        thread: str,
        execution_class: str | None = None,
    ) -> None:
        """Records a node's run from dbt's NodeFinished event (called from dbt's threads).

        Times come from dbt's own node start and finish, gated or not, so that gated and plain
        builds are measured alike (a model's unit tests are nodes of their own); the gate adds
        how long the node waited for a slot.
        """
        observed = self._observed
        start = _epoch(node_info.get("node_started_at"))
        end = _epoch(node_info.get("node_finished_at"))
        if observed is not None and start is not None and end is not None:
            observed.append((node_info["unique_id"], execution_class, thread, start, end))

    @contextmanager
    def build(self, manifest: Any) -> Iterator[list[NodeTiming]]:
        """Gates the dbt invocation run inside (unless ungated); when it ends, the list it
        yields holds the invocation's node timings."""
        timings: list[NodeTiming] = []
        gated: list[NodeTiming] = []
        pools: list[GatedPool] = []
        observed: list[tuple[str, str | None, str, float, float]] = []
        self._observed = observed
        priority = self._priority(manifest) if self.gated else {}

        def wrap(pool: Any) -> GatedPool:
            remote = self.send if self.shared else None
            gated_pool = GatedPool(pool, self.gate, priority, gated.append, remote)
            pools.append(gated_pool)
            self._pools.append(gated_pool)
            return gated_pool

        try:
            if self.gated:
                with wrapped_thread_pool(wrap):
                    yield timings
            else:
                yield timings
        finally:
            self._observed = None
            for pool in pools:
                pool.detach()
                self._pools.remove(pool)
            by_node = {t.unique_id: t for t in gated}
            lanes = thread_lanes(thread for _, _, thread, _, _ in observed)
            for uid, cls, thread, start, end in observed:
                gate_time = by_node.get(uid)
                ready = gate_time.ready if gate_time else start
                admitted = gate_time.admitted if gate_time else None
                timings.append(
                    NodeTiming(uid, cls, thread, ready, start, end, admitted, lanes[thread])
                )
            self.seconds.update({t.unique_id: t.end - t.start for t in timings})
