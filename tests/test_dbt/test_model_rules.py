"""The project's ``model_rules`` test: every rule of a model in one dbt test node.

A fixture project (``rules_project/``) takes dbt_project's macros and generic tests, then breaks one
rule at a time through ``--vars`` (one dbt process, one parse); the one test node must fail naming the
model, the column, the rule and the failing row count on one line, and pass on clean rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from tests.test_dbt.dbt_invoke import run_in_subprocess
from tests.test_dbt.rules_fixture import copy_rules_project, parse_project
from tests.test_simulation.years_jobs import log_messages, run_years, step_failure

TEST_ID = "test.rules_fixture.model_rules_facts"

# Broken rule -> what the one failure line names.
BROKEN = {
    "not_null": "facts.id not_null: 1 failing row",
    "unique": "facts.code unique: 1 failing row",
    "accepted_values": "facts.code accepted_values: 1 failing row",
    "relationships": "facts.parent_id relationships: 1 failing row",
    "accepted_range": "facts.amount accepted_range: 1 failing row",
    "expression_is_true": "facts.amount expression_is_true: 1 failing row",
    "unique_combination_of_columns": "facts unique_combination_of_columns: 1 failing row",
}
TWO_BROKEN = ["accepted_values", "not_null"]


@pytest.fixture(scope="module")
def rules_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_rules_project(tmp_path_factory.mktemp("rules") / "project")


@pytest.fixture(scope="module")
def rules_outcomes(rules_project: Path) -> dict[str, dict[str, Any]]:
    cases = {"clean": [], **{rule: [rule] for rule in BROKEN}, "two": TWO_BROKEN}
    spec = {
        "project_dir": str(rules_project),
        "target_path": str(rules_project / "target"),
        "invocations": [
            ["build", "--vars", json.dumps({"broken": broken})] for broken in cases.values()
        ],
        "output": str(rules_project / "outcomes.json"),
    }
    return dict(zip(cases, run_in_subprocess(spec, cwd=rules_project), strict=True))


def _test_nodes(outcome: dict[str, Any]) -> list[str]:
    return [n for n in outcome["nodes"] if n.startswith("test.")]


def test_clean_rows_pass_the_one_test_node(rules_outcomes: dict[str, dict[str, Any]]) -> None:
    outcome = rules_outcomes["clean"]

    assert outcome["success"], outcome
    (node,) = _test_nodes(outcome)
    assert node.startswith(TEST_ID) and ": pass: " in node


@pytest.mark.parametrize("rule", list(BROKEN), ids=list(BROKEN))
def test_each_broken_rule_fails_the_test_naming_model_column_rule_and_count(
    rules_outcomes: dict[str, dict[str, Any]], rule: str
) -> None:
    outcome = rules_outcomes[rule]

    assert not outcome["success"]
    (node,) = _test_nodes(outcome)
    assert node.startswith(TEST_ID) and ": error: " in node, node
    line = next(x for x in node.splitlines() if "model_rules failed:" in x)
    assert line.endswith(f"model_rules failed: {BROKEN[rule]}"), line


def test_two_broken_rules_are_both_named_in_one_line_in_yml_order(
    rules_outcomes: dict[str, dict[str, Any]],
) -> None:
    (node,) = _test_nodes(rules_outcomes["two"])
    line = next(x for x in node.splitlines() if "model_rules failed:" in x)
    assert line.endswith(
        f"model_rules failed: {BROKEN['not_null']}; {BROKEN['accepted_values']}"
    ), line


def test_a_broken_rule_fails_the_simulated_year_with_one_failure_line(
    rules_project: Path, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """The simulation's way (years.py, in a real step): the year fails, its failure is one line."""
    parse_project(rules_project)
    result = run_years(instance, rules_project, tmp_path / "workforce.duckdb", [2025, 2026],
                       vars={"broken": ["not_null"]})  # fmt: skip

    assert not result.success
    assert not [m for m in log_messages(instance, result.run_id) if m.startswith("Year 2026")]
    message = step_failure(result)
    (failure,) = [line[4:] for line in message.splitlines() if line.startswith("  - ")]
    assert failure.startswith(TEST_ID), failure
    assert failure.endswith(f"model_rules failed: {BROKEN['not_null']}"), failure
