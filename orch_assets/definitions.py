"""The code location: assembles Definitions from the role modules."""

import dagster as dg

from orch_assets.assets.simulation import workforce_models
from orch_assets.jobs import workforce_simulation
from orch_assets.resources import SimulationStore

defs = dg.Definitions(
    assets=[workforce_models],
    jobs=[workforce_simulation],
    resources={"simulation_store": SimulationStore()},
)
