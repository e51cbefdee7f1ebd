"""One multi-year simulation as one Dagster step: years in order, one dbt start-up in total."""

from orch_assets.simulation.results import (
    EVENTS_MODEL,
    SNAPSHOT_MODEL,
    SUMMARY_MODEL,
    simulation_fingerprint,
)
from orch_assets.simulation.step import run_simulation

__all__ = [
    "EVENTS_MODEL",
    "SNAPSHOT_MODEL",
    "SUMMARY_MODEL",
    "run_simulation",
    "simulation_fingerprint",
]
