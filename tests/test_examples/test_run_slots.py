"""Two gated @dbt_assets steps of one run share the run's class limits: two copies of the shop
project, each on its own DuckDB file, built at once under the adaptive executor (thread and
process modes) with ``class_limits: {parallel_safe: 1}``. (No ``from __future__ import
annotations``: @dbt_assets reads the context annotation.)"""

import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster_dbt import dbt_assets

from orch_assets.dbt import ExecutionClassTranslator, GatedDbtCliResource
from orch_assets.executor import adaptive_executor
from tests.test_examples.shop_support import SHOP_DIR, STAGING, any_overlap, execute_intervals
from tests.test_examples.shop_support import run_results as read_run_results

# Where the two copies live (set by the test; read when the job is built, also in step processes).
SHOPS_ENV = "ORCH_TEST_TWO_SHOPS_DIR"
SHOPS = ("east", "west")


class _PrefixedTranslator(ExecutionClassTranslator):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        return super().get_asset_key(dbt_resource_props).with_prefix(self.prefix)


def _shop_assets(name: str, project_dir: Path) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=project_dir / "target" / "manifest.json",
        dagster_dbt_translator=_PrefixedTranslator(name),
        name=f"{name}_models",
        required_resource_keys={f"dbt_{name}"},
        # The executor classes a step by its most restrictive model (here parallel_safe, limit
        # 1), which would run the two steps one after the other; this class lets them overlap.
        op_tags={"orch/execution_class": "conditional"},
    )
    def models(context: dg.AssetExecutionContext) -> Iterator[Any]:
        dbt: GatedDbtCliResource = getattr(context.resources, f"dbt_{name}")
        yield from dbt.cli(["build"], context=context).stream()

    return models


def two_shops_job() -> dg.JobDefinition:
    root = Path(os.environ[SHOPS_ENV])
    defs = dg.Definitions(
        assets=[_shop_assets(name, root / name) for name in SHOPS],
        resources={
            f"dbt_{name}": GatedDbtCliResource(project_dir=root / name, record_history=False)
            for name in SHOPS
        },
        jobs=[dg.define_asset_job("two_shops")],
        executor=adaptive_executor,
    )
    return defs.resolve_job_def("two_shops")


@pytest.fixture(scope="module")
def shops(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two copies of the parsed shop project; each builds ``shop.duckdb`` in its own folder
    (the profile's default path, relative to the project directory dbt runs in)."""
    root = tmp_path_factory.mktemp("two_shops")
    for name in SHOPS:
        shutil.copytree(
            SHOP_DIR,
            root / name,
            ignore=shutil.ignore_patterns("logs", "*.duckdb*", "shop_models-*", "run_results.json"),
        )
    return root


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_two_gated_steps_of_one_run_never_overlap_their_parallel_safe_models(
    shops: Path, mode: str, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    monkeypatch.setenv(SHOPS_ENV, str(shops))
    monkeypatch.delenv("SHOP_DUCKDB_PATH", raising=False)
    cwd = Path.cwd()
    # A fixed cap (no memory pauses on a loaded machine), so that the two steps run at once.
    config = {
        "mode": mode,
        "max_concurrent": 4,
        "memory_pause_percent": 100.0,
        "memory_resume_percent": 99.0,
        "memory_pressure_pause": None,
        "class_limits": {"parallel_safe": 1},
    }
    with dg.execute_job(
        dg.reconstructable(two_shops_job),
        instance=instance,
        run_config={"execution": {"config": config}},
    ) as result:
        assert result.success
        run_id = result.run_id
    # dagster-dbt's cli() changes directory while it starts; two steps at once must not leave
    # the run process in a project directory.
    assert Path.cwd() == cwd
    builds = {}
    for name in SHOPS:
        (target,) = (shops / name / "target").glob(f"{name}_models-{run_id[:7]}-*")
        builds[name] = execute_intervals(read_run_results(target))
        assert (shops / name / "shop.duckdb").is_file()
    # The two builds ran at the same time, so only the shared slots kept their models apart.
    spans = [
        (min(s for s, _ in b.values()), max(e for _, e in b.values())) for b in builds.values()
    ]
    assert any_overlap(spans)
    staging = [build[uid] for build in builds.values() for uid in STAGING]
    assert len(staging) == 6
    assert not any_overlap(staging)
