"""The ``dagster/max_runtime`` run tag stops a run under the adaptive executor as under the stock
multiprocess executor: the run is launched through a real code server (Dagster's default run
launcher, as from the UI) and Dagster's run monitoring, called here as its daemon calls it on
each tick, enforces the limit. (``multiprocess_job`` in max_runtime_defs.py is the same job under
the stock executor, for comparing by hand: it stops the same way.)"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import psutil
import pytest
from dagster._daemon.monitoring.run_monitoring import execute_run_monitoring_iteration
from dagster_graphql.test.utils import (
    define_out_of_process_workspace,
    execute_dagster_graphql,
    infer_job_selector,
)

DEFS = str(Path(__file__).with_name("max_runtime_defs.py"))
MAX_RUNTIME_S = 3
STEP_S = 30
LAUNCH = """
mutation($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
  }
}
"""


@pytest.fixture(scope="module")
def monitored_workspace() -> Iterator[Any]:
    overrides = {
        "run_monitoring": {"enabled": True, "poll_interval_seconds": 1},
        # Launched at once, as with `dagster dev` without a queue.
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "DefaultRunCoordinator",
        },
    }
    with (
        dg.instance_for_test(overrides=overrides) as instance,
        define_out_of_process_workspace(DEFS, "defs", instance) as process_context,
    ):
        yield process_context


def _launch(workspace: Any, job: str, run_config: dict[str, Any]) -> str:
    context = workspace.create_request_context()
    params = {
        "selector": infer_job_selector(context, job),
        "runConfigData": run_config,
        "executionMetadata": {
            "tags": [{"key": "dagster/max_runtime", "value": str(MAX_RUNTIME_S)}]
        },
    }
    launched = execute_dagster_graphql(context, LAUNCH, {"executionParams": params}).data
    assert launched["launchPipelineExecution"]["__typename"] == "LaunchRunSuccess", launched
    return launched["launchPipelineExecution"]["run"]["runId"]


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _step_gone(pid_file: Path) -> bool:
    """The step's process has ended, or the step was stopped before it started."""
    return not pid_file.exists() or _gone(int(pid_file.read_text()))


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("job", "executor_config"),
    [("adaptive_job", {"mode": "thread"}), ("adaptive_job", {"mode": "process"})],
    ids=["adaptive-thread", "adaptive-process"],
)  # fmt: skip
def test_max_runtime_stops_a_run_whose_step_would_take_30_s(
    monitored_workspace: Any, tmp_path: Path, job: str, executor_config: dict[str, Any]
) -> None:
    instance: dg.DagsterInstance = monitored_workspace.instance
    pid_file = tmp_path / "step.pid"
    run_config = {
        "ops": {"thirty_seconds": {"config": {"pid_file": str(pid_file)}}},
        "execution": {"config": executor_config},
    }
    launched_at = time.monotonic()
    run_id = _launch(monitored_workspace, job, run_config)
    logger = logging.getLogger("run_monitoring_test")

    while time.monotonic() - launched_at < STEP_S:
        list(execute_run_monitoring_iteration(monitored_workspace, logger))
        run = instance.get_run_by_id(run_id)
        assert run is not None
        if run.is_finished and _step_gone(pid_file):
            break
        time.sleep(0.5)
    stopped_after = time.monotonic() - launched_at

    run = instance.get_run_by_id(run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.FAILURE, run
    assert stopped_after < STEP_S - 5, f"the run went on for {stopped_after:.1f} s"
    assert _step_gone(pid_file), "the step's process was stopped"
    messages = [entry.message for entry in instance.all_logs(run_id)]
    assert any(f"exceeding maximum runtime of {MAX_RUNTIME_S} seconds" in m for m in messages)
    assert not any(
        "STEP_SUCCESS" in m or 'Finished execution of step "thirty' in m for m in messages
    )
