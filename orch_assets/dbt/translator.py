"""Translator rules over dbt config: execution class as a tag, layer as the asset group."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

EXECUTION_CLASS_TAG = "orch/execution_class"
EXECUTION_CLASSES = ("parallel_safe", "sequential", "conditional")
ENABLED_BY_META = "enabled_by"


class InvalidExecutionClassError(ValueError):
    """A dbt model declares no execution class, or one that is not allowed."""


def execution_class(props: Mapping[str, Any]) -> str | None:
    """The model's ``meta.execution_class`` from its dbt config; None for non-models without one.

    Raises for a model that declares none or an unknown one, naming the model and the choices.
    """
    meta = {**props.get("meta", {}), **props.get("config", {}).get("meta", {})}
    value = meta.get("execution_class")
    if value is None and props.get("resource_type") != "model":
        return None
    if value not in EXECUTION_CLASSES:
        raise InvalidExecutionClassError(
            f"dbt model '{props.get('unique_id', props.get('name'))}' has execution_class "
            f"{value!r} in its config meta; allowed: {', '.join(EXECUTION_CLASSES)}"
        )
    if value == "conditional" and not meta.get(ENABLED_BY_META):
        raise InvalidExecutionClassError(
            f"dbt model '{props.get('unique_id')}' is conditional but names no "
            f"'meta.{ENABLED_BY_META}' var that switches it on"
        )
    return value


class ExecutionClassTranslator(DagsterDbtTranslator):
    """Tags each asset with its execution class and groups assets by dbt layer (folder)."""

    def __init__(self, settings: DagsterDbtTranslatorSettings | None = None) -> None:
        super().__init__(settings or DagsterDbtTranslatorSettings(enable_asset_checks=False))

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        tags = dict(super().get_tags(dbt_resource_props))
        value = execution_class(dbt_resource_props)
        if value is not None:
            tags[EXECUTION_CLASS_TAG] = value
        return tags

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2:
            return fqn[1]
        if dbt_resource_props.get("resource_type") == "seed":
            return "seeds"
        return super().get_group_name(dbt_resource_props)
