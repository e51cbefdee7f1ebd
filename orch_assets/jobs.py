"""Jobs. ``workforce_simulation`` takes flat run config, validated at launch."""

from typing import Any

import dagster as dg

from orch_assets.assets.simulation import workforce_models
from orch_assets.config import SimulationConfig, launch_error, validate_launch_environment


def _simulation_run_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validates the flat config at launch and maps it onto the dbt assets op."""
    passthrough = {key: config.pop(key) for key in ("execution", "resources") if key in config}
    try:
        validate_launch_environment()
        op_config = SimulationConfig(**config).model_dump(exclude_none=True)
    except ValueError as error:
        raise launch_error(error) from None
    return {"ops": {workforce_models.op.name: {"config": op_config}}, **passthrough}


workforce_simulation = dg.define_asset_job(
    name="workforce_simulation",
    selection=dg.AssetSelection.assets(workforce_models),
    description="The whole multi-year workforce simulation as one run, years strictly in order.",
    config=dg.ConfigMapping(
        config_fn=_simulation_run_config,
        config_schema={
            **SimulationConfig.to_fields_dict(),
            "execution": dg.Field(dg.Permissive(), is_required=False,
                                  description="Executor config, as in any job's run config."),
            "resources": dg.Field(dg.Permissive(), is_required=False,
                                  description="Resource config, e.g. simulation_store.data_dir."),
        },
    ),  # fmt: skip
    tags={"orch/database": "baseline"},
)
