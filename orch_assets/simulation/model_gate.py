"""Whether the simulation's dbt models are gated (``ORCH_MODEL_GATE``, read when a simulation
starts, never at import): "off" runs them under plain dbt ``--threads``, for comparisons
(benchmarks, tests). Gated, the run's executor ``class_limits`` and live cap govern each year's
models, shared with every gated dbt command of the run (``GatedDbtCliResource``).
"""

from __future__ import annotations

import os

import dagster as dg

MODEL_GATE_ENV = "ORCH_MODEL_GATE"


def model_gate_enabled() -> bool:
    gate = os.environ.get(MODEL_GATE_ENV, "on").strip().lower()
    if gate not in ("on", "off"):
        raise dg.Failure(f"{MODEL_GATE_ENV} must be 'on' or 'off', got {gate!r}")
    return gate == "on"
