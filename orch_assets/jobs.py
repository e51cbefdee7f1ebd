"""Jobs. ``workforce_simulation`` takes flat run config, validated at launch."""

from collections.abc import Callable
from typing import Any

import dagster as dg

from orch_assets.assets.scenarios import (
    ScenarioRunConfig,
    scenario_models,
    scenario_op,
    scenario_op_name,
)
from orch_assets.assets.simulation import workforce_models
from orch_assets.config import (
    SimulationConfig,
    launch_error,
    validate_launch_environment,
)
from orch_assets.executor import adaptive_executor
from orch_assets.partitions import SCENARIOS

PASSTHROUGH_KEYS = ("execution", "resources")


def _execution_field() -> dg.Field:
    """The ``execution`` section as Dagster builds it for a job without a config mapping, from the
    executor's own schema (``definitions.py`` sets the adaptive executor), so that the Launchpad
    checks its enums (``mode``, ``start_method``) and field names before launch."""
    return dg.Field(
        dg.Shape({"config": adaptive_executor.config_schema.as_field()}),
        is_required=False,
        description="Executor config, as in any job's run config.",
    )


def _flat_config_schema(options: type[dg.Config]) -> dict[str, dg.Field]:
    """The run options at the top level of the run config, beside the usual execution and
    resources sections; resources are passed through unchanged."""
    return {
        **options.to_fields_dict(),
        "execution": _execution_field(),
        "resources": dg.Field(dg.Permissive(), is_required=False,
                              description="Resource config, e.g. simulation_store.data_dir."),
    }  # fmt: skip


def _rule(error: Any) -> str:
    """One schema error (a ``DagsterInvalidConfigError``'s entry) as one sentence; a value outside
    an enum names the allowed values."""
    data = error.error_data
    enum_values = getattr(getattr(data, "config_type_snap", None), "enum_values", None)
    if enum_values:
        fields = (getattr(entry, "field_name", None) for entry in error.stack.entries)
        path = ".".join(name for name in fields if name)
        allowed = ", ".join(value.value for value in enum_values)
        return f"{path} must be one of {allowed}, got {getattr(data, 'value_rep', '?')}"
    return " ".join(error.message.split())


def _launch_config(
    job: str, config_fn: Callable[[dict[str, Any]], dict[str, Any]], options: type[dg.Config]
) -> dg.ConfigMapping:
    """The flat config mapping of ``job``. Dagster checks the schema (types, unknown keys) before
    ``config_fn`` runs; its errors become the same one-line launch error as ``config_fn``'s
    (printed by the ``dagster`` CLI as ``Error: ...``, without a traceback)."""

    class LaunchConfigMapping(dg.ConfigMapping):
        def resolve_from_unvalidated_config(self, config: Any) -> Any:
            try:
                return super().resolve_from_unvalidated_config(config)
            except dg.DagsterInvalidConfigError as error:
                rules = "; ".join(_rule(e) for e in error.errors)
                raise launch_error(ValueError(rules), job=job) from None

    return LaunchConfigMapping(config_fn=config_fn, config_schema=_flat_config_schema(options))


def _simulation_run_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validates the flat config at launch and maps it onto the dbt assets op."""
    passthrough = {key: config.pop(key) for key in PASSTHROUGH_KEYS if key in config}
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
    config=_launch_config("workforce_simulation", _simulation_run_config, SimulationConfig),
    tags={"orch/database": "baseline"},
)


ALL_SCENARIOS_DATABASE_TAG = "all_scenarios"


def _all_scenarios_run_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validates the flat config against every scenario at launch; the same options for each op."""
    passthrough = {key: config.pop(key) for key in PASSTHROUGH_KEYS if key in config}
    options = {key: value for key, value in config.items() if value is not None}
    try:
        validate_launch_environment()
        for scenario in SCENARIOS:
            scenario.config(**options)
    except ValueError as error:
        raise launch_error(error, job="all_scenarios") from None
    ops = {scenario_op_name(s): {"config": options} for s in SCENARIOS}
    return {"ops": ops, **passthrough}


@dg.job(
    name="all_scenarios",
    description="Every scenario in one run: scenarios in parallel (one op and one DuckDB file "
    "each), years in order within each.",
    config=_launch_config("all_scenarios", _all_scenarios_run_config, ScenarioRunConfig),
    tags={"orch/database": ALL_SCENARIOS_DATABASE_TAG},
)
def all_scenarios() -> None:
    for scenario in SCENARIOS:
        scenario_op(scenario)()


scenario_simulation = dg.define_asset_job(
    name="scenario_simulation",
    selection=dg.AssetSelection.assets(scenario_models),
    description="One scenario (the partition) into its own database; its runs carry the tag "
    "dagster/partition, one run per scenario at a time (dagster_home/dagster.yaml).",
)
