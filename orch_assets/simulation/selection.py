"""Pure functions that turn run options and the dbt manifest into worker arguments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from orch_assets.dbt.translator import ENABLED_BY_META, InvalidExecutionClassError, execution_class


def load_project_vars(project_dir: Path) -> dict[str, Any]:
    """The ``vars`` defaults of ``dbt_project.yml``."""
    with open(project_dir / "dbt_project.yml") as f:
        return dict(yaml.safe_load(f).get("vars") or {})


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def conditional_exclusions(
    manifest: Mapping[str, Any], dbt_vars: Mapping[str, Any], project_vars: Mapping[str, Any]
) -> list[str]:
    """Names of ``conditional`` models whose ``meta.enabled_by`` switch is off for this run."""
    excluded = []
    for props in manifest["nodes"].values():
        if props["resource_type"] != "model" or execution_class(props) != "conditional":
            continue
        switch = _meta(props).get(ENABLED_BY_META)
        if not switch:
            raise InvalidExecutionClassError(
                f"dbt model '{props['unique_id']}' is conditional but names no "
                f"'meta.{ENABLED_BY_META}' var that switches it on"
            )
        if not _truthy(dbt_vars.get(switch, project_vars.get(switch, False))):
            excluded.append(props["name"])
    return sorted(excluded)


def subset_selection(
    manifest: Mapping[str, Any],
    selected_keys: Iterable[Any],
    key_for_props: Any,
) -> list[str]:
    """dbt ``--select`` names for a subset of assets (``key_for_props`` maps node props to a key)."""
    wanted = set(selected_keys)
    return sorted(
        props["name"]
        for props in manifest["nodes"].values()
        if props["resource_type"] in ("model", "seed", "snapshot")
        and key_for_props(props) in wanted
    )


def with_upstream(names: Iterable[str]) -> list[str]:
    """dbt ``--select`` of ``names`` and everything upstream of them: a subset recomputes each
    year from the same inputs as the models around it, never from last run's upstream tables."""
    return [f"+{name}" for name in names]


def classes_by_model(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Model name -> execution class, for every model; raises on a missing or unknown class."""
    return {
        props["name"]: execution_class(props) or ""
        for props in manifest["nodes"].values()
        if props["resource_type"] == "model"
    }


ONCE_PER_SIMULATION_META = "once_per_simulation"


def _meta(props: Mapping[str, Any]) -> dict[str, Any]:
    return {**props.get("meta", {}), **props.get("config", {}).get("meta", {})}


def once_per_simulation_models(manifest: Mapping[str, Any]) -> list[str]:
    """Models whose config sets ``meta.once_per_simulation``: year-independent inputs.

    Such a model may read only seeds, sources and other such models; one that reads a model
    built every year could not be built once, so it is refused, naming both.
    """
    nodes = manifest["nodes"]
    marked = {
        uid
        for uid, props in nodes.items()
        if props["resource_type"] == "model" and _truthy(_meta(props).get(ONCE_PER_SIMULATION_META))
    }
    for uid in sorted(marked):
        for parent in nodes[uid].get("depends_on", {}).get("nodes", []):
            if parent.startswith("model.") and parent not in marked:
                raise ValueError(
                    f"dbt model '{uid}' sets meta.{ONCE_PER_SIMULATION_META} but reads "
                    f"'{parent}', which is built every year"
                )
    return sorted(nodes[uid]["name"] for uid in marked)


def later_years_exclusions(
    manifest: Mapping[str, Any], excluded_models: Iterable[str]
) -> list[str]:
    """What years after the first leave out, under ``--indirect-selection cautious``.

    The once-per-simulation models (their tests whose every parent is such a model follow them
    under "cautious"), plus, by name, every test that reads an excluded model at all: "cautious"
    would otherwise keep a test of a switched-off conditional model that has another parent.
    """
    names = set(excluded_models)
    tests = sorted(
        props["name"]
        for props in manifest["nodes"].values()
        if props["resource_type"] == "test"
        and any(
            manifest["nodes"].get(parent, {}).get("name") in names
            for parent in props.get("depends_on", {}).get("nodes", [])
        )
    )
    return once_per_simulation_models(manifest) + tests
