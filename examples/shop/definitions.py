"""The shop example as its own code location: a dagster-dbt project that renamed one resource.

The asset code is dagster-dbt's own idiom; ``GatedDbtCliResource`` in place of ``DbtCliResource``
and ``ExecutionClassTranslator`` make each model run under its execution class and the adaptive
executor's live cap, with per-model timings, a timeline and runtime history.

Run it:

    dagster asset materialize -m examples.shop.definitions --select '*'
    dagster dev -w workspace.yaml          # beside the simulation

``SHOP_DUCKDB_PATH`` (read by dbt's profile at run time) moves the database; default
``examples/shop/dbt_project/shop.duckdb``.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtProject, dbt_assets

from orch_assets.dbt import ExecutionClassTranslator, GatedDbtCliResource
from orch_assets.executor import adaptive_executor

SHOP_PROJECT_DIR = Path(__file__).resolve().with_name("dbt_project")

shop_project = DbtProject(project_dir=SHOP_PROJECT_DIR, profiles_dir=SHOP_PROJECT_DIR)
shop_project.prepare_if_dev()


@dbt_assets(
    manifest=shop_project.manifest_path,
    project=shop_project,
    dagster_dbt_translator=ExecutionClassTranslator(),
)
def shop_models(context: dg.AssetExecutionContext, dbt: GatedDbtCliResource) -> Iterator[Any]:
    # dagster-dbt's row counts (dagster/row_count on each table) work as with DbtCliResource.
    yield from dbt.cli(["build"], context=context).stream().fetch_row_counts()


defs = dg.Definitions(
    assets=[shop_models],
    resources={"dbt": GatedDbtCliResource(project_dir=shop_project)},
    executor=adaptive_executor,
)
