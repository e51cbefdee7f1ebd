"""Run-process side of model scheduling: the worker's class limits, cap and order, and the
thread that forwards the executor's live cap to the worker while its builds run.

The class limits are the run's executor ``class_limits`` (one config governs steps and models);
the cap is the executor's live cap (:func:`orch_assets.executor.live_cap`), polled every
``CAP_POLL_S`` and sent to the worker as ``{"type": "cap", "cap": N}`` on each change, so no new
model starts beyond a lowered cap within about a second (the executor samples every 0.5 s).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg

from orch_assets.dbt.limits import run_class_limits
from orch_assets.dbt.runner import WorkerProcess
from orch_assets.executor import live_cap
from orch_assets.runtime.model_times import (
    LOOKUP_LOCK_RETRY_SECONDS,
    median_node_seconds,
    model_times_table,
)
from orch_assets.simulation.run_gate import RunModelGate

CAP_POLL_S = 0.25
# "off" runs the models under plain dbt --threads (for comparisons: benchmarks, tests); read
# when a simulation starts, never at import.
MODEL_GATE_ENV = "ORCH_MODEL_GATE"
# Longest remaining critical path first did not beat dbt's own order in
# benchmarks/model_gate.py on this project (see the README), so dbt's order is the default.
DEFAULT_ORDER = "dbt"


def scheduling_options(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    n_employees: int,
    shared: bool = False,
    order: str = DEFAULT_ORDER,
) -> dict[str, Any]:
    """What the worker needs to gate its builds (see orch_assets.dbt.scheduling); ``shared``:
    several simulations in this run, the run-wide gate grants every node's slot."""
    history = model_times_table(context.instance, LOOKUP_LOCK_RETRY_SECONDS)
    gate = os.environ.get(MODEL_GATE_ENV, "on").strip().lower()
    if gate not in ("on", "off"):
        raise dg.Failure(f"{MODEL_GATE_ENV} must be 'on' or 'off', got {gate!r}")
    return {
        "gated": gate == "on",
        "shared_gate": shared and gate == "on",
        "class_limits": run_class_limits(context.run.run_config),
        "cap": live_cap(context.run.run_id),
        "order": order,
        "node_seconds": median_node_seconds(history, n_employees) if order != "dbt" else {},
    }


def describe_scheduling(options: Mapping[str, Any], threads: int) -> str:
    """One line for the step's log: how the models of each build are gated."""
    limits = ", ".join(
        f"{name} {'up to the cap' if limit is None else limit}"
        for name, limit in options["class_limits"].items()
    )
    cap = options.get("cap")
    if not options["gated"]:
        return f"dbt models NOT gated ({MODEL_GATE_ENV}=off): plain dbt --threads {threads}"
    if options.get("shared_gate"):
        limits += "; shared by every simulation of this run"
    return (
        f"dbt models gated by execution class ({limits}) and the live cap "
        f"{cap if cap is not None else threads} now (ceiling: dbt threads {threads}); "
        f"order: {options['order']}"
    )


@contextmanager
def forward_live_cap(
    run_id: str, worker: WorkerProcess, shared: RunModelGate | None = None
) -> Iterator[None]:
    """While active, sends the run's live cap to the worker whenever it changes.

    With ``shared`` (several simulations in this run) the worker's nodes are granted by that
    run-wide gate: the worker joins it for the duration, and a raised cap grants waiting nodes.
    """
    stop = threading.Event()
    if shared is not None:
        shared.join(id(worker), worker.send, worker.request.threads)
        worker.on_slot = lambda message: shared.handle(id(worker), message)

    def follow() -> None:
        sent: int | None = None
        while not stop.wait(CAP_POLL_S):
            cap = live_cap(run_id)
            if cap is not None and cap != sent and worker.send({"type": "cap", "cap": cap}):
                sent = cap
                if shared is not None:
                    shared.grant_ready()

    thread = threading.Thread(target=follow, name="orch-cap-forwarder", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)
        if shared is not None:
            shared.leave(id(worker))
