"""Partitions. Scenario partitions are the scenario files' names, read when definitions load."""

import dagster as dg

from orch_assets.scenarios import Scenario, load_scenarios

# A bad scenario file fails here, at definitions load, naming the file, the field and the rule.
SCENARIOS: tuple[Scenario, ...] = load_scenarios()
SCENARIOS_BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}

scenario_partitions = dg.StaticPartitionsDefinition([s.name for s in SCENARIOS])
