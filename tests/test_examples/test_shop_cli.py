"""The example project's own code location through the CLI: gated by the run's adaptive executor
config, with per-model metadata, a timeline, runtime history, and UI-style subsets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orch_assets.dbt.node_metadata import (
    DBT_THREAD_KEY,
    EXECUTION_CLASS_KEY,
    SLOT_WAIT_KEY,
    STARTED_AT_KEY,
    TIMELINE_KEY,
    TIMELINE_PATH_KEY,
)
from orch_assets.runtime.model_times import model_times_table
from orch_assets.runtime.records import record_run_ids
from tests.test_examples.shop_support import (
    SHOP_DIR,
    STAGING,
    any_overlap,
    execute_intervals,
    materialize_cli,
    run_results,
)


@dataclass(frozen=True)
class ShopRun:
    instance: dg.DagsterInstance
    run: dg.DagsterRun
    target: Path
    database: Path


def _run(
    tmp: Path,
    env: dict[str, str],
    select: str,
    class_limits: dict[str, int | None],
    database: Path,
) -> ShopRun:
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**env, "SHOP_DUCKDB_PATH": str(database)}
    config = {"execution": {"config": {"class_limits": class_limits}}}
    done = materialize_cli(select, config, env, tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    run = instance.get_runs(limit=1)[0]
    (target,) = (SHOP_DIR / "target").glob(f"shop_models-{run.run_id[:7]}-*")
    return ShopRun(instance, run, target, database)


@pytest.fixture(scope="module")
def shop_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    import os
    import shutil

    from tests.conftest import REPO_ROOT

    home = tmp_path_factory.mktemp("shop_home")
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    yield {**env, "DAGSTER_HOME": str(home)}


@pytest.fixture(scope="module")
def serial_staging(tmp_path_factory: pytest.TempPathFactory, shop_env: dict[str, str]) -> ShopRun:
    """Every asset, ``class_limits: {parallel_safe: 1}`` in the executor config, dbt threads 4."""
    tmp = tmp_path_factory.mktemp("serial")
    return _run(tmp, shop_env, "*", {"parallel_safe": 1}, tmp / "shop.duckdb")


def _materializations(run: ShopRun) -> dict[str, dg.AssetMaterialization]:
    records = run.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("stg_orders")), limit=1
    ).records
    assert records
    events = run.instance.all_logs(
        run.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    )
    found = {}
    for entry in events:
        materialization = entry.asset_materialization
        assert materialization is not None
        found[materialization.asset_key.to_user_string()] = materialization
    return found


def test_class_limit_1_from_the_executor_config_keeps_parallel_safe_models_apart_at_threads_4(
    serial_staging: ShopRun,
) -> None:
    results = run_results(serial_staging.target)
    intervals = execute_intervals(results)
    assert len({r["thread_id"] for r in results["results"]}) >= 2, "dbt ran several threads"
    assert not any_overlap([intervals[uid] for uid in STAGING])
    logs = [e.message for e in serial_staging.instance.all_logs(serial_staging.run.run_id)]
    assert any(
        "parallel_safe 1" in m and "from the run's adaptive executor config" in m for m in logs
    )


def test_each_model_carries_its_class_timing_and_wait_and_the_last_one_the_timeline(
    serial_staging: ShopRun,
) -> None:
    found = _materializations(serial_staging)
    assert set(found) == {
        "raw_customers", "raw_orders", "raw_products", "stg_customers", "stg_orders",
        "stg_products", "fct_orders", "dim_customers", "fct_daily_revenue",
    }  # fmt: skip
    for name in ("stg_orders", "stg_customers", "stg_products"):
        assert found[name].metadata[EXECUTION_CLASS_KEY].value == "parallel_safe"
    assert found["fct_orders"].metadata[EXECUTION_CLASS_KEY].value == "sequential"
    stg = found["stg_orders"].metadata
    assert {STARTED_AT_KEY, DBT_THREAD_KEY, SLOT_WAIT_KEY} <= set(stg)
    # Two of the three staging models waited for the one parallel_safe slot.
    waits = sorted(
        found[n].metadata[SLOT_WAIT_KEY].value
        for n in ("stg_orders", "stg_customers", "stg_products")
    )  # type: ignore[type-var]
    assert waits[-1] > 0.2
    with_timeline = [name for name, m in found.items() if TIMELINE_KEY in m.metadata]
    assert len(with_timeline) == 1
    assert Path(str(found[with_timeline[0]].metadata[TIMELINE_PATH_KEY].value)).stat().st_size > 0
    # dagster-dbt's fetch_row_counts() (the example's body) counts each table once its dbt
    # command has ended and the worker has let the DuckDB file go.
    con = duckdb.connect(str(serial_staging.database), read_only=True)
    try:
        for name in ("stg_orders", "fct_orders", "dim_customers"):
            (rows,) = con.execute(f"select count(*) from {name}").fetchone() or (None,)
            assert found[name].metadata["dagster/row_count"].value == rows, name
    finally:
        con.close()


def test_the_run_records_its_dbt_threads_and_node_times_in_the_runtime_history(
    serial_staging: ShopRun,
) -> None:
    run = serial_staging
    assert run.instance.get_run_by_id(run.run.run_id).tags["orch/dbt_threads"] == "4"  # type: ignore[union-attr]
    with model_times_table(run.instance).connect() as con:
        rows = con.execute(
            "select simulation, unique_id, execution_class from model_times where run_id = ?",
            [run.run.run_id],
        ).fetchall()
    assert {r[0] for r in rows} == {"shop_models"}
    assert ("shop_models", "model.shop.stg_orders", "parallel_safe") in rows
    assert len(rows) == 30
    # What the runtime sensor records of the run: its thread configuration.
    (row,) = record_run_ids(run.instance, model_times_table(run.instance), [run.run.run_id])
    assert (row.dbt_threads, row.executor_mode, row.status) == (4, "thread", "success")


def test_a_ui_style_subset_runs_only_the_selected_model_gated(
    tmp_path: Path, shop_env: dict[str, str], serial_staging: ShopRun
) -> None:
    # On the built database (its seeds exist), as a user re-materializes one asset in the UI.
    run = _run(tmp_path, shop_env, "stg_orders", {"parallel_safe": 1}, serial_staging.database)
    models = {
        r["unique_id"]
        for r in run_results(run.target)["results"]
        if r["unique_id"].startswith("model.")
    }
    assert models == {"model.shop.stg_orders"}
    assert set(_materializations(run)) == {"stg_orders"}
    logs = [e.message for e in run.instance.all_logs(run.run.run_id)]
    assert any("dbt models gated by execution class" in m for m in logs)
