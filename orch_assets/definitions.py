"""The code location: assembles Definitions from the role modules.

Its imports run under :func:`orch_assets.startup.frozen_imports`: the cyclic garbage collector
neither re-scans them during the import nor in the run process afterwards, nor at exit.
"""

from orch_assets.startup import frozen_imports

with frozen_imports():
    import dagster as dg

    from orch_assets.assets.runtime_report import (
        orch_runtime_history,
        orch_runtime_report,
        outputs_identical_across_thread_configurations,
    )
    from orch_assets.assets.scenario_comparison import scenario_comparison
    from orch_assets.assets.scenarios import scenario_models
    from orch_assets.assets.simulation import workforce_models
    from orch_assets.executor import adaptive_executor
    from orch_assets.jobs import all_scenarios, scenario_simulation, workforce_simulation
    from orch_assets.resources import SimulationStore
    from orch_assets.runtime.store import RuntimeStore
    from orch_assets.schedules import nightly_baseline, weekly_all_scenarios
    from orch_assets.sensors import orch_dead_runs, orch_runtime_recorder

    defs = dg.Definitions(
        assets=[
            workforce_models,
            scenario_models,
            scenario_comparison,
            orch_runtime_history,
            orch_runtime_report,
        ],
        asset_checks=[outputs_identical_across_thread_configurations],
        jobs=[workforce_simulation, all_scenarios, scenario_simulation],
        schedules=[nightly_baseline, weekly_all_scenarios],
        sensors=[orch_runtime_recorder, orch_dead_runs],
        resources={"simulation_store": SimulationStore(), "runtime_store": RuntimeStore()},
        executor=adaptive_executor,
    )
