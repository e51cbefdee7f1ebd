"""The translator that shows each model's execution class (:mod:`orch_assets.dbt.classes`) as
the asset tag ``orch/execution_class``; an unknown class fails the definitions' load."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from orch_assets.dbt.classes import (
    DEFAULT_EXECUTION_CLASS,
    ENABLED_BY_META,
    EXECUTION_CLASS_TAG,
    EXECUTION_CLASSES,
    InvalidExecutionClassError,
    check_execution_class,
    execution_class,
)

__all__ = [
    "ENABLED_BY_META",
    "EXECUTION_CLASSES",
    "EXECUTION_CLASS_TAG",
    "ExecutionClassTranslator",
    "InvalidExecutionClassError",
    "execution_class",
]


class ExecutionClassTranslator(DagsterDbtTranslator):
    """dagster-dbt's translator plus the asset tag ``orch/execution_class`` of each model.

    Asset keys, groups, checks and metadata are dagster-dbt's unless ``group_by_layer`` groups
    models by their first folder under ``models/`` (seeds: ``seeds``). An unknown class fails
    the definitions' load, naming the model.

    Examples:
        .. code-block:: python

            from dagster_dbt import dbt_assets
            from orch_assets.dbt import ExecutionClassTranslator, GatedDbtCliResource

            @dbt_assets(manifest=project.manifest_path,
                        dagster_dbt_translator=ExecutionClassTranslator())
            def my_models(context: dg.AssetExecutionContext, dbt: GatedDbtCliResource):
                yield from dbt.cli(["build"], context=context).stream()
    """

    def __init__(
        self,
        settings: DagsterDbtTranslatorSettings | None = None,
        *,
        default_execution_class: str = DEFAULT_EXECUTION_CLASS,
        group_by_layer: bool = False,
    ) -> None:
        super().__init__(settings)
        self.default_execution_class = check_execution_class(
            default_execution_class, "ExecutionClassTranslator(default_execution_class=...)"
        )
        self.group_by_layer = group_by_layer

    def execution_class(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return execution_class(dbt_resource_props, self.default_execution_class)

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        tags = dict(super().get_tags(dbt_resource_props))
        value = self.execution_class(dbt_resource_props)
        if value is not None:
            tags[EXECUTION_CLASS_TAG] = value
        return tags

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if self.group_by_layer:
            fqn = dbt_resource_props.get("fqn", [])
            if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2:
                return fqn[1]
            if dbt_resource_props.get("resource_type") == "seed":
                return "seeds"
        return super().get_group_name(dbt_resource_props)
