"""The code location: assembles Definitions from the role modules."""

import dagster as dg

from orch_assets.assets.runtime_report import (
    orch_runtime_history,
    orch_runtime_report,
    outputs_identical_across_thread_configurations,
)
from orch_assets.assets.simulation import workforce_models
from orch_assets.executor import adaptive_executor
from orch_assets.jobs import workforce_simulation
from orch_assets.resources import SimulationStore
from orch_assets.runtime.store import RuntimeStore
from orch_assets.sensors import orch_runtime_recorder

defs = dg.Definitions(
    assets=[workforce_models, orch_runtime_history, orch_runtime_report],
    asset_checks=[outputs_identical_across_thread_configurations],
    jobs=[workforce_simulation],
    sensors=[orch_runtime_recorder],
    resources={"simulation_store": SimulationStore(), "runtime_store": RuntimeStore()},
    executor=adaptive_executor,
)
