"""One multi-year simulation as one Dagster step: years in order, one dbt start-up in total.

The public names are loaded on first use, so the step's dbt worker imports the bookkeeping it
runs between years (``in_worker.py``) without Dagster.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orch_assets.simulation.results import (
        EVENTS_MODEL,
        SNAPSHOT_MODEL,
        SUMMARY_MODEL,
        simulation_fingerprint,
    )
    from orch_assets.simulation.step import run_simulation

_PUBLIC = {
    "EVENTS_MODEL": "orch_assets.simulation.results",
    "SNAPSHOT_MODEL": "orch_assets.simulation.results",
    "SUMMARY_MODEL": "orch_assets.simulation.results",
    "simulation_fingerprint": "orch_assets.simulation.results",
    "run_simulation": "orch_assets.simulation.step",
}

__all__ = [
    "EVENTS_MODEL",
    "SNAPSHOT_MODEL",
    "SUMMARY_MODEL",
    "run_simulation",
    "simulation_fingerprint",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'orch_assets.simulation' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
