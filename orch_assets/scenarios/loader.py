"""Scenario files: one YAML file per scenario, validated when the definitions load.

A scenario is a name and overrides of the simulation's parameters::

    name: high_growth                 # ^[a-z][a-z0-9_]{0,39}$: it names a DuckDB directory
    description: Aggressive hiring.   # optional
    parameters:                       # any SimulationConfig field except threads
      growth_rate: 0.08

Parameters are validated by ``SimulationConfig`` (types and ranges), so a scenario can never hold
a value that a launch would reject. Any problem raises ``ScenarioError`` naming the file, the
field and the rule, before a single run exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from orch_assets.config import SimulationConfig
from orch_assets.resources import database_pool

SCENARIO_DIR = Path(__file__).resolve().parent
SCENARIO_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
SCENARIO_KEYS = frozenset({"name", "description", "parameters"})
# Run-wide options, not scenario assumptions: the dbt thread count is chosen per run.
EXCLUDED_PARAMETERS = frozenset({"threads"})
SCENARIO_PARAMETERS = frozenset(SimulationConfig.model_fields) - EXCLUDED_PARAMETERS


class ScenarioError(ValueError):
    """A scenario file is invalid; the message names the file, the field and the rule."""


@dataclass(frozen=True)
class Scenario:
    """One validated scenario."""

    name: str
    path: Path
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def simulation(self) -> str:
        """The SimulationStore name: scenario databases never share the baseline job's file."""
        return f"scenario_{self.name}"

    @property
    def pool(self) -> str:
        return database_pool(self.simulation)

    def config(self, **run_options: Any) -> SimulationConfig:
        """The scenario's parameters with run options (census size, years, threads) on top."""
        set_options = {k: v for k, v in run_options.items() if v is not None}
        return SimulationConfig(**{**self.parameters, **set_options})


def _fail(path: Path, field_name: str, rule: str) -> ScenarioError:
    return ScenarioError(f"invalid scenario file {path}: {field_name}: {rule}")


def parse_scenario(path: Path, document: Any) -> Scenario:
    """Validates one parsed YAML document; raises ScenarioError on the first rule it breaks."""
    if not isinstance(document, Mapping):
        raise _fail(path, "<file>", "must be a mapping with 'name' and 'parameters'")
    unknown = sorted(set(map(str, document)) - SCENARIO_KEYS)
    if unknown:
        raise _fail(path, unknown[0], f"unknown key; allowed: {', '.join(sorted(SCENARIO_KEYS))}")
    name = document.get("name")
    if not isinstance(name, str) or not SCENARIO_NAME_PATTERN.fullmatch(name):
        raise _fail(
            path, "name",
            f"must match {SCENARIO_NAME_PATTERN.pattern} (lowercase letter, then lowercase "
            f"letters, digits or '_', at most 40 characters), got {name!r}",
        )  # fmt: skip
    description = document.get("description") or ""
    if not isinstance(description, str):
        raise _fail(path, "description", f"must be a string, got {description!r}")
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise _fail(path, "parameters", f"must be a mapping parameter: value, got {parameters!r}")
    for key in parameters:
        if key not in SCENARIO_PARAMETERS:
            raise _fail(
                path, f"parameters.{key}",
                f"unknown parameter; allowed: {', '.join(sorted(SCENARIO_PARAMETERS))}",
            )  # fmt: skip
    try:
        SimulationConfig(**parameters)
    except ValidationError as error:
        first = error.errors()[0]
        rule = str(first["msg"]).removeprefix("Value error, ")
        # Range checks run on the whole model (no loc); their message starts with the field.
        loc = ".".join(map(str, first["loc"])) or rule.split(" ", 1)[0]
        raise _fail(path, f"parameters.{loc}", rule) from None
    return Scenario(name=name, path=path, description=description, parameters=dict(parameters))


def load_scenarios(directory: Path = SCENARIO_DIR) -> tuple[Scenario, ...]:
    """Every ``*.yaml`` file of ``directory``, sorted by name; duplicated names are rejected."""
    scenarios: dict[str, Scenario] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            document = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise _fail(path, "<file>", f"is not valid YAML: {error}") from None
        scenario = parse_scenario(path, document)
        first = scenarios.get(scenario.name)
        if first is not None:
            raise _fail(
                path, "name", f"duplicated scenario name {scenario.name!r}, also in {first.path}"
            )  # fmt: skip
        scenarios[scenario.name] = scenario
    if not scenarios:
        raise ScenarioError(f"no scenario files (*.yaml) in {directory}")
    return tuple(sorted(scenarios.values(), key=lambda s: s.name))
