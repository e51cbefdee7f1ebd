"""The code location loads, and the dbt project's execution classes reach the assets."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from orch_assets.config import SimulationConfig
from orch_assets.dbt.translator import EXECUTION_CLASS_TAG, EXECUTION_CLASSES, execution_class
from orch_assets.definitions import defs
from orch_assets.project import workforce_dbt_project
from orch_assets.simulation.selection import load_project_vars


def _models() -> list[dict]:
    manifest = json.loads(workforce_dbt_project.manifest_path.read_text())
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]


def test_definitions_load_with_the_simulation_job() -> None:
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("workforce_simulation")
    assert job.tags["orch/database"] == "baseline"


def test_every_model_declares_a_valid_execution_class_in_its_dbt_config() -> None:
    models = _models()

    assert len(models) >= 20
    classes = {m["name"]: execution_class(m) for m in models}
    assert set(classes.values()) <= set(EXECUTION_CLASSES)
    assert set(classes.values()) == set(EXECUTION_CLASSES), "the project uses all three classes"


def test_each_asset_carries_its_model_class_as_a_tag_and_its_layer_as_group() -> None:
    graph = defs.resolve_asset_graph()
    for model in _models():
        node = graph.get(dg.AssetKey(model["name"]))
        assert node.tags[EXECUTION_CLASS_TAG] == model["config"]["meta"]["execution_class"]
        assert node.group_name == model["fqn"][1]
    assert {n.group_name for n in graph.asset_nodes} >= {"staging", "intermediate", "marts"}


def test_config_defaults_match_the_dbt_project_vars() -> None:
    project_vars = load_project_vars(workforce_dbt_project.project_dir)
    config = SimulationConfig()

    for name in ("start_year", "n_employees", "random_seed"):
        assert getattr(config, name) == project_vars[name], name


def test_a_model_without_a_class_is_rejected_naming_it() -> None:
    with pytest.raises(ValueError, match=r"model\.p\.m' has execution_class None.*parallel_safe"):
        execution_class(
            {"resource_type": "model", "unique_id": "model.p.m", "config": {"meta": {}}}
        )
