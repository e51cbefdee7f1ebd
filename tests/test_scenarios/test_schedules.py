"""Scheduled runs carry the run-queue concurrency tag of the database they write."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest
import yaml

from orch_assets.definitions import defs
from tests.conftest import REPO_ROOT

SCHEDULED = datetime(2026, 11, 22, 3, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("schedule", "job", "database"),
    [("nightly_baseline", "workforce_simulation", "baseline"),
     ("weekly_all_scenarios", "all_scenarios", "all_scenarios")],
    ids=["nightly-baseline", "weekly-all-scenarios"],
)  # fmt: skip
def test_a_schedule_requests_runs_tagged_with_their_database(
    schedule: str, job: str, database: str
) -> None:
    definition = defs.resolve_schedule_def(schedule)
    context = dg.build_schedule_context(scheduled_execution_time=SCHEDULED)

    request = definition.evaluate_tick(context).run_requests[0]

    assert definition.job_name == job
    assert definition.default_status == dg.DefaultScheduleStatus.RUNNING
    assert request.tags["orch/database"] == database
    assert request.run_key.endswith("2026-11-22")


def test_the_instance_limits_one_run_per_database_and_scenario_and_one_step_per_pool() -> None:
    config = yaml.safe_load(Path(REPO_ROOT / "dagster_home" / "dagster.yaml").read_text())
    limits = {rule["key"]: rule for rule in config["concurrency"]["runs"]["tag_concurrency_limits"]}

    for key in ("orch/database", "dagster/partition"):
        assert limits[key]["limit"] == 1
        assert limits[key]["value"] == {"applyLimitPerUniqueValue": True}
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0


def test_every_scenario_op_of_the_multi_scenario_job_has_its_own_pool_and_runs_in_parallel() -> (
    None
):
    job = defs.resolve_job_def("all_scenarios")

    for node in job.nodes:
        name = node.name.removeprefix("simulate_")
        assert node.definition.tags["orch/pool"] == f"duckdb/scenario_{name}"
        assert node.definition.tags["orch/execution_class"] == "parallel_safe"
    assert job.tags["orch/database"] == "all_scenarios"
