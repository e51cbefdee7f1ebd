"""Launching from the UI: bad run config is a config error before launch, through GraphQL.

The workspace is the repository's own ``workspace.yaml``, loaded by a real code server (a
``dagster api grpc`` process), as ``dagster dev`` loads it; the queries are the Launchpad's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
from dagster_graphql.test.utils import (
    define_out_of_process_context,
    execute_dagster_graphql,
)

from tests.conftest import REPO_ROOT

LAUNCH = """
mutation($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on RunConfigValidationInvalid { errors { message reason } }
    ... on PythonError { message stack }
  }
}
"""

EDITOR_CHECK = """
query($selector: PipelineSelector!, $runConfigData: RunConfigData) {
  isPipelineConfigValid(pipeline: $selector, runConfigData: $runConfigData, mode: "default") {
    __typename
    ... on RunConfigValidationInvalid { errors { message reason } }
  }
}
"""


# The simulation's code location in workspace.yaml (which also loads the shop example).
LOCATION = "orch_assets.definitions"
# The name Dagster gives the repository of a code location's Definitions.
REPOSITORY = "__repository__"


def _selector(job: str) -> dict[str, str]:
    return {
        "repositoryLocationName": LOCATION,
        "repositoryName": REPOSITORY,
        "pipelineName": job,
    }


class Launchpad:
    """The Launchpad's two calls against one job of a real workspace."""

    def __init__(self, context: Any, instance: dg.DagsterInstance) -> None:
        self.context = context
        self.instance = instance

    def check(self, job: str, run_config: dict[str, Any]) -> dict[str, Any]:
        variables = {
            "selector": _selector(job),
            "runConfigData": run_config,
        }
        return execute_dagster_graphql(self.context, EDITOR_CHECK, variables).data[
            "isPipelineConfigValid"
        ]

    def launch(self, job: str, run_config: dict[str, Any]) -> dict[str, Any]:
        params = {
            "selector": _selector(job),
            "runConfigData": run_config,
        }
        return execute_dagster_graphql(self.context, LAUNCH, {"executionParams": params}).data[
            "launchPipelineExecution"
        ]


@pytest.fixture(scope="module")
def launchpad() -> Iterator[Launchpad]:
    with dg.instance_for_test() as instance:
        workspace = str(REPO_ROOT / "workspace.yaml")
        with define_out_of_process_context(workspace, None, instance) as context:
            yield Launchpad(context, instance)


@pytest.mark.parametrize(
    ("job", "run_config", "path", "allowed"),
    [("workforce_simulation", {"on_input_change": "maybe"}, "root:on_input_change", "'rebuild'"),
     ("all_scenarios", {"on_input_change": "maybe"}, "root:on_input_change", "'rebuild'"),
     ("workforce_simulation", {"execution": {"config": {"mode": "threads"}}},
      "root:execution:config:mode", None),
     ("all_scenarios", {"execution": {"config": {"start_method": "fork"}}},
      "root:execution:config:start_method", None),
     ("scenario_simulation", {"execution": {"config": {"mode": "threads"}}},
      "root:execution:config:mode", None)],
    ids=["on_input_change", "scenario-on_input_change", "executor-mode",
         "scenario-executor-start_method", "asset-job-executor-mode"],
)  # fmt: skip
def test_a_value_outside_an_enum_is_marked_in_the_editor_and_refused_as_a_config_error(
    launchpad: Launchpad, job: str, run_config: dict[str, Any], path: str, allowed: str | None
) -> None:
    checked = launchpad.check(job, run_config)
    launched = launchpad.launch(job, run_config)

    for answer in (checked, launched):
        assert answer["__typename"] == "RunConfigValidationInvalid", answer
        [error] = answer["errors"]
        assert error["reason"] == "RUNTIME_TYPE_MISMATCH"
        assert f"Value at path {path} not in enum type" in error["message"]
        assert allowed is None or allowed in error["message"], "the allowed values are named"
    assert launchpad.instance.get_runs() == [], "no run is created"


def test_a_range_rule_fails_the_launch_with_its_sentence_first_and_creates_no_run(
    launchpad: Launchpad,
) -> None:
    """Dagster 1.13's webserver checks run config only against the schema snapshot (types, enums,
    fields); a range is checked in the code server while it builds the execution plan, whose
    errors reach GraphQL as ``PythonError`` (see the README's "Launching from the UI")."""
    run_config = {"threads": 99}

    checked = launchpad.check("workforce_simulation", run_config)
    launched = launchpad.launch("workforce_simulation", run_config)

    assert checked["__typename"] == "PipelineConfigValidationValid"
    assert launched["__typename"] == "PythonError"
    assert launched["message"].splitlines()[0] == (
        "orch_assets.config.SimulationConfigError: Invalid workforce_simulation config: threads "
        "must be an integer from 1 to 16 or 'auto', got 99"
    )
    assert launchpad.instance.get_runs() == [], "no run is created"
