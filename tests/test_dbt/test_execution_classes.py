"""Where a model's execution class comes from, and a bad one failing the definitions' load."""

import copy
import json
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
from dagster_dbt import dbt_assets

from orch_assets.dbt import EXECUTION_CLASS_TAG, ExecutionClassTranslator
from orch_assets.dbt.classes import InvalidExecutionClassError, execution_class
from tests.test_examples.shop_support import SHOP_DIR


@pytest.fixture(scope="module")
def shop_manifest() -> dict[str, Any]:
    return json.loads((SHOP_DIR / "target" / "manifest.json").read_text())


def _load(manifest: dict[str, Any]) -> dg.AssetsDefinition:
    @dbt_assets(manifest=manifest, dagster_dbt_translator=ExecutionClassTranslator())
    def shop(context: dg.AssetExecutionContext) -> Iterator[Any]:
        yield from ()

    return shop


def _model(**fields: Any) -> dict[str, Any]:
    return {"resource_type": "model", "unique_id": "model.p.m", "config": {"meta": {}}, **fields}


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        (_model(config={"meta": {"execution_class": "sequential"}}), "sequential"),
        (_model(tags=["nightly", "conditional"]), "conditional"),
        (_model(), "parallel_safe"),
        ({"resource_type": "seed", "unique_id": "seed.p.s"}, None),
    ],
    ids=["config-meta", "dbt-tag", "default", "seed-without-class"],
)
def test_a_class_comes_from_meta_then_a_dbt_tag_then_the_default(
    props: dict[str, Any], expected: str | None
) -> None:
    assert execution_class(props, "parallel_safe") == expected


def test_the_example_projects_assets_carry_their_class_as_a_tag(
    shop_manifest: dict[str, Any],
) -> None:
    tags = {spec.key.to_user_string(): spec.tags for spec in _load(shop_manifest).specs}
    assert tags["stg_orders"][EXECUTION_CLASS_TAG] == "parallel_safe"  # declares none
    assert tags["fct_orders"][EXECUTION_CLASS_TAG] == "sequential"  # dbt_project.yml +meta
    assert EXECUTION_CLASS_TAG not in tags["raw_orders"]


def test_an_unknown_class_fails_the_load_naming_the_model_the_value_and_the_choices(
    shop_manifest: dict[str, Any],
) -> None:
    manifest = copy.deepcopy(shop_manifest)
    manifest["nodes"]["model.shop.stg_orders"]["config"]["meta"]["execution_class"] = "serial"
    with pytest.raises(InvalidExecutionClassError) as raised:
        _load(manifest)
    assert str(raised.value) == (
        "dbt model 'model.shop.stg_orders' has execution_class 'serial' (config meta); "
        "allowed: parallel_safe, sequential, conditional"
    )


def test_two_class_tags_on_one_model_are_refused() -> None:
    with pytest.raises(
        InvalidExecutionClassError,
        match=r"model\.p\.m' has the tags parallel_safe, sequential: at most one",
    ):
        execution_class(_model(tags=["sequential", "parallel_safe"]), "parallel_safe")
