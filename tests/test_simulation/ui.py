"""Launching and terminating runs as the UI does: GraphQL against a workspace whose code location
is a `dagster api grpc` code server (started by Dagster as `dagster dev` starts it), so the run
launcher starts each run as a child process of that code server."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import ModuleTarget
from dagster_graphql.client.client_queries import (
    CLIENT_SUBMIT_PIPELINE_RUN_MUTATION,
    TERMINATE_RUN_JOB_MUTATION,
)
from dagster_graphql.test.utils import execute_dagster_graphql

from tests.conftest import REPO_ROOT

LOCATION = "orch_assets.definitions"


class UI:
    def __init__(self, process_context: WorkspaceProcessContext) -> None:
        self._process_context = process_context

    def _request(self) -> WorkspaceRequestContext:
        return self._process_context.create_request_context()

    def launch(self, job: str, run_config: Mapping[str, Any]) -> str:
        """The Launchpad's Launch: the new run's id."""
        params = {
            "selector": {
                "repositoryLocationName": LOCATION,
                "repositoryName": "__repository__",
                "jobName": job,
            },
            "runConfigData": dict(run_config),
        }
        result = execute_dagster_graphql(
            self._request(), CLIENT_SUBMIT_PIPELINE_RUN_MUTATION, {"executionParams": params}
        )
        launched = result.data["launchPipelineExecution"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        return launched["run"]["runId"]

    def terminate(self, run_id: str) -> None:
        """The run page's Terminate."""
        result = execute_dagster_graphql(
            self._request(), TERMINATE_RUN_JOB_MUTATION, {"runId": run_id}
        )
        assert result.data["terminateRun"]["__typename"] == "TerminateRunSuccess", result.data


# Launch at once (no daemon to dequeue): the run coordinator of `dagster dev` without a queue.
IMMEDIATE_LAUNCH = {
    "run_coordinator": {
        "module": "dagster._core.run_coordinator",
        "class": "DefaultRunCoordinator",
    }
}


@contextmanager
def ui_instance(overrides: Mapping[str, Any] | None = None) -> Iterator[dg.DagsterInstance]:
    """A temporary instance whose runs launch when submitted; ``overrides`` as dagster.yaml."""
    with dg.instance_for_test(overrides={**IMMEDIATE_LAUNCH, **(overrides or {})}) as instance:
        yield instance


@contextmanager
def ui(instance: dg.DagsterInstance) -> Iterator[UI]:
    target = ModuleTarget(
        module_name=LOCATION,
        attribute=None,
        working_directory=str(REPO_ROOT),
        location_name=LOCATION,
    )
    with WorkspaceProcessContext(instance, target) as process_context:
        yield UI(process_context)


def wait_for_log(
    instance: dg.DagsterInstance, run_id: str, predicate: Any, timeout_s: float = 300
) -> str:
    """The first of the run's log messages for which ``predicate`` holds (waits for it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for record in instance.all_logs(run_id):
            if predicate(record.user_message):
                return record.user_message
        run = instance.get_run_by_id(run_id)
        assert run is not None and not run.is_finished, f"run ended as {run and run.status}"
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} logged nothing matching within {timeout_s} s")


def wait_for_status(
    instance: dg.DagsterInstance, run_id: str, timeout_s: float = 120
) -> dg.DagsterRunStatus:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            return run.status
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish within {timeout_s} s")
