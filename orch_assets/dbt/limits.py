"""Where the class limits and the live cap of a gated dbt build come from.

Under the adaptive executor (it publishes a live cap for the run), the run's executor config
governs the models as it governs the steps: its ``class_limits`` and its live cap. Under any
other executor the resource's own settings apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orch_assets.executor import live_cap
from orch_assets.executor.config import parse_class_limits


def run_class_limits(run_config: Mapping[str, Any]) -> dict[str, int | None]:
    """``class_limits`` of the run's executor config (``execution.config`` or
    ``execution.<executor>.config``), with the executor's defaults."""
    execution = run_config.get("execution") or {}
    config = execution.get("config")
    if config is None and len(execution) == 1:
        config = (next(iter(execution.values())) or {}).get("config")
    return parse_class_limits((config or {}).get("class_limits"))


def under_adaptive_executor(run_id: str | None) -> bool:
    return run_id is not None and live_cap(run_id) is not None


def build_limits(
    run_id: str | None,
    run_config: Mapping[str, Any] | None,
    own_limits: Mapping[str, int | None] | None,
) -> tuple[dict[str, int | None], str]:
    """The class limits for a build and where they came from (for the step's log)."""
    if under_adaptive_executor(run_id):
        return run_class_limits(run_config or {}), "the run's adaptive executor config"
    return parse_class_limits(own_limits), "the resource's class_limits"
