"""Scenarios of the workforce simulation: YAML files in this directory, validated at load."""

from orch_assets.scenarios.loader import (
    SCENARIO_DIR,
    SCENARIO_NAME_PATTERN,
    Scenario,
    ScenarioError,
    load_scenarios,
    parse_scenario,
)

__all__ = [
    "SCENARIO_DIR",
    "SCENARIO_NAME_PATTERN",
    "Scenario",
    "ScenarioError",
    "load_scenarios",
    "parse_scenario",
]
