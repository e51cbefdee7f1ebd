"""``orch_assets.GatedDbtProjectComponent`` through the real ``dg`` CLI: the example project
(examples/shop_components, under adaptive_executor), a project scaffolded by ``dg scaffold defs``
(under Dagster's stock executor, so the component's own ``class_limits`` govern), ``dg check yaml``
(schema only) on a wrong attribute, and the asset graph against dagster-dbt's ``DbtProjectComponent``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster.components.core.component_tree import ComponentTree
from dagster_dbt import DbtProject, DbtProjectComponent

from orch_assets import GatedDbtProjectComponent
from orch_assets.dbt import EXECUTION_CLASS_TAG
from tests.conftest import REPO_ROOT
from tests.test_examples.shop_support import (
    BIN,
    SHOP_DIR,
    STAGING,
    any_overlap,
    execute_intervals,
    run_results,
)

# Every test here shares one worker: the example's `dg` commands re-prepare its state directory.
pytestmark = pytest.mark.xdist_group("shop_component")

EXAMPLE = REPO_ROOT / "examples" / "shop_components"
COMPONENT = "orch_assets.GatedDbtProjectComponent"
SHOP_ASSETS = {
    "raw_customers", "raw_orders", "raw_products", "stg_customers", "stg_orders",
    "stg_products", "fct_orders", "dim_customers", "fct_daily_revenue",
}  # fmt: skip
# A project as `dg init` lays it out, with the stock executor.
PYPROJECT = """[project]
name = "gated_shop"
version = "0.1.0"

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "gated_shop"
"""
DEFINITIONS = """from pathlib import Path
from typing import Any

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
"""


def dg_cli(
    args: Sequence[str], project: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """``dg`` in ``project`` with this virtualenv, the project's ``src`` importable (as
    ``pip install -e .`` would make it)."""
    return subprocess.run(
        [str(BIN / "dg"), *args],
        cwd=project, env={**env, "PYTHONPATH": str(project / "src")},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def new_project(root: Path) -> Path:
    package = root / "src" / "gated_shop"
    (package / "defs").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(DEFINITIONS)
    return root


@dataclass(frozen=True)
class ComponentRun:
    instance: dg.DagsterInstance
    run_id: str
    # dbt's run_results.json, read at once: the next `dg` command in the project re-prepares
    # its state directory, where the run's target directory is.
    results: dict[str, Any]


def _launch(project: Path, env: Mapping[str, str], tmp: Path, *extra: str) -> ComponentRun:
    """``dg launch --assets '*'`` as a user runs it, on a fresh database and instance."""
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {**env, "DAGSTER_HOME": str(home), "SHOP_DUCKDB_PATH": str(tmp / "shop.duckdb")}
    done = dg_cli(["launch", "--assets", "*", *extra], project, env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    instance = dg.DagsterInstance.from_config(str(home))
    run_id = instance.get_runs(limit=1)[0].run_id
    # DbtProjectComponent runs dbt in its copy of the project under defs/.local_defs_state.
    (target,) = (path for path in project.rglob(f"*-{run_id[:7]}-*") if path.is_dir())
    return ComponentRun(instance, run_id, run_results(target))


def _messages(run: ComponentRun) -> list[str]:
    return [entry.message for entry in run.instance.all_logs(run.run_id)]


def _materialized(run: ComponentRun) -> set[str]:
    events = run.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    return {e.asset_materialization.asset_key.to_user_string() for e in events}  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def dg_env() -> dict[str, str]:
    """dagster-dbt needs ``dbt`` on PATH to prepare the project: this virtualenv's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "DAGSTER_"))}
    return {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}


@dataclass(frozen=True)
class Scaffolded:
    project: Path
    scaffolded_yaml: str
    run: ComponentRun


@pytest.fixture(scope="module")
def scaffolded_serial(
    tmp_path_factory: pytest.TempPathFactory, dg_env: dict[str, str]
) -> Scaffolded:
    """``dg scaffold defs`` of the component on the shop project in a new project, then
    ``class_limits: {parallel_safe: 1}`` added and every asset launched (Dagster's executor)."""
    tmp = tmp_path_factory.mktemp("scaffolded")
    project = new_project(tmp / "gated_shop")
    done = dg_cli(
        ["scaffold", "defs", COMPONENT, "shop_dbt", "--project-path", str(SHOP_DIR)],
        project, dg_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    defs_yaml = project / "src" / "gated_shop" / "defs" / "shop_dbt" / "defs.yaml"
    scaffolded = defs_yaml.read_text()
    defs_yaml.write_text(scaffolded + "  class_limits: {parallel_safe: 1}\n")
    # Dagster's default executor, in-process: no step process to start and load the project again.
    in_process = json.dumps({"execution": {"config": {"in_process": {}}}})
    run = _launch(project, dg_env, tmp, "--config-json", in_process)
    return Scaffolded(project, scaffolded, run)


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory, dg_env: dict[str, str]) -> ComponentRun:
    """The example project as shipped (adaptive_executor, its default run config)."""
    return _launch(EXAMPLE, dg_env, tmp_path_factory.mktemp("example"))


def test_dg_scaffold_defs_writes_the_component_type_and_project_and_the_yaml_loads(
    scaffolded_serial: Scaffolded,
) -> None:
    assert scaffolded_serial.scaffolded_yaml.startswith(f"type: {COMPONENT}\n")
    assert "project: '{{ context.project_root }}/" in scaffolded_serial.scaffolded_yaml
    assert _materialized(scaffolded_serial.run) == SHOP_ASSETS


def test_class_limit_1_in_defs_yaml_keeps_parallel_safe_models_apart_under_a_stock_executor(
    scaffolded_serial: Scaffolded,
) -> None:
    results = scaffolded_serial.run.results
    intervals = execute_intervals(results)
    assert len({r["thread_id"] for r in results["results"]}) >= 2
    assert not any_overlap([intervals[uid] for uid in STAGING])
    assert any(
        "parallel_safe 1" in m and "from the resource's class_limits" in m
        for m in _messages(scaffolded_serial.run)
    )


def test_the_example_runs_under_adaptive_executor_and_without_the_limit_staging_overlaps(
    example_run: ComponentRun,
) -> None:
    messages = _messages(example_run)
    assert any(m.startswith("Adaptive executor:") for m in messages)
    assert any("from the run's adaptive executor config" in m for m in messages)
    intervals = execute_intervals(example_run.results)
    assert any_overlap([intervals[uid] for uid in STAGING])
    assert _materialized(example_run) == SHOP_ASSETS


def test_dg_list_defs_loads_the_example_with_each_models_class_tag(dg_env: dict[str, str]) -> None:
    # Loading validates the attributes against the same (stricter) model as `dg check yaml`.
    listed = dg_cli(["list", "defs", "--json"], EXAMPLE, dg_env)
    assert listed.returncode == 0, listed.stderr[-3000:]
    assets = {a["asset_key"]: a for a in json.loads(listed.stdout)["assets"]}
    assert set(assets) == SHOP_ASSETS
    assert {"key": EXECUTION_CLASS_TAG, "value": "parallel_safe"} in assets["stg_orders"]["tags"]


def test_dg_check_yaml_names_a_wrong_class_limits_attribute_and_the_allowed_values(
    tmp_path: Path, dg_env: dict[str, str]
) -> None:
    # The example, with two mistakes in its defs.yaml.
    project = tmp_path / "shop_components"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".local_defs_state"))
    defs_yaml = project / "src" / "shop_components" / "defs" / "shop_dbt" / "defs.yaml"
    defs_yaml.write_text(
        defs_yaml.read_text() + "  class_limits: {parallel_safe: 0, sequentail: 1}\n"
    )
    done = dg_cli(["check", "yaml"], project, dg_env)
    assert done.returncode != 0
    assert "attributes.class_limits.parallel_safe 0 is less than the minimum of 1" in done.stdout
    assert (
        "attributes.class_limits 'sequentail' is not one of "
        "['parallel_safe', 'sequential', 'conditional']" in done.stdout
    )


def test_the_asset_graph_is_dbt_project_components_plus_the_execution_class_tags() -> None:
    project = DbtProject(project_dir=SHOP_DIR, profiles_dir=SHOP_DIR)
    context = ComponentTree.for_test().load_context
    stock = DbtProjectComponent(project=project).build_defs_from_state(context, None)
    gated = GatedDbtProjectComponent(project=project).build_defs_from_state(context, None)
    stock_graph, gated_graph = stock.resolve_asset_graph(), gated.resolve_asset_graph()
    assert gated_graph.get_all_asset_keys() == stock_graph.get_all_asset_keys()
    assert gated_graph.asset_check_keys == stock_graph.asset_check_keys
    classes = {
        key.to_user_string(): gated_graph.get(key).tags.get(EXECUTION_CLASS_TAG)
        for key in gated_graph.get_all_asset_keys()
    }
    assert classes["stg_orders"] == "parallel_safe"
    assert classes["fct_orders"] == "sequential"
    assert classes["raw_orders"] is None


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"class_limits": {"fast": 1}}, "class_limits has fast: 1; allowed: parallel_safe"),
        ({"default_execution_class": "fast"}, "default_execution_class is 'fast'; allowed:"),
        ({"max_concurrent": 0}, "max_concurrent is 0; allowed: null or > 0"),
    ],
    ids=["unknown-class", "unknown-default-class", "zero-cap"],
)
def test_a_component_built_in_python_refuses_a_wrong_attribute_naming_it(
    attributes: dict[str, Any], message: str
) -> None:
    project = DbtProject(project_dir=SHOP_DIR, profiles_dir=SHOP_DIR)
    with pytest.raises(ValueError, match=re.escape(message)):
        GatedDbtProjectComponent(project=project, **attributes)


def test_the_package_registers_the_component_for_dg_list_components() -> None:
    from dagster.components.core.package_entry import discover_entry_point_package_objects

    registered = {
        key.to_typename(): obj for key, obj in discover_entry_point_package_objects().items()
    }
    assert registered[COMPONENT] is GatedDbtProjectComponent
