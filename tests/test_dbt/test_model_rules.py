"""The project's ``model_rules`` test: every rule of a model in one dbt test node.

A fixture project (``rules_project/``) takes dbt_project's macros and generic tests, then breaks one
rule at a time through ``--vars`` (one dbt process, one parse); the one test node must fail naming the
model, the column, the rule and the failing row count on one line, and pass on clean rows.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DBT_PROJECT_DIR
from tests.test_dbt.dbt_invoke import run_in_subprocess

FIXTURE = Path(__file__).parent / "rules_project"
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
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    project = tmp_path_factory.mktemp("rules") / "project"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("target", "logs"))
    shutil.copytree(DBT_PROJECT_DIR / "macros", project / "macros")
    shutil.copytree(DBT_PROJECT_DIR / "tests" / "generic", project / "tests" / "generic")
    cases = {"clean": [], **{rule: [rule] for rule in BROKEN}, "two": TWO_BROKEN}
    spec = {
        "project_dir": str(project),
        "target_path": str(project / "target"),
        "invocations": [
            ["build", "--vars", json.dumps({"broken": broken})] for broken in cases.values()
        ],
        "output": str(project / "outcomes.json"),
    }
    return dict(zip(cases, run_in_subprocess(spec, cwd=project), strict=True))


def _test_nodes(outcome: dict[str, Any]) -> list[str]:
    return [n for n in outcome["nodes"] if n.startswith("test.")]


def test_clean_rows_pass_the_one_test_node(outcomes: dict[str, dict[str, Any]]) -> None:
    outcome = outcomes["clean"]

    assert outcome["success"], outcome
    (node,) = _test_nodes(outcome)
    assert node.startswith(TEST_ID) and ": pass: " in node


@pytest.mark.parametrize("rule", list(BROKEN), ids=list(BROKEN))
def test_each_broken_rule_fails_the_test_naming_model_column_rule_and_count(
    outcomes: dict[str, dict[str, Any]], rule: str
) -> None:
    outcome = outcomes[rule]

    assert not outcome["success"]
    (node,) = _test_nodes(outcome)
    assert node.startswith(TEST_ID) and ": error: " in node, node
    line = next(x for x in node.splitlines() if "model_rules failed:" in x)
    assert line.endswith(f"model_rules failed: {BROKEN[rule]}"), line


def test_two_broken_rules_are_both_named_in_one_line_in_yml_order(
    outcomes: dict[str, dict[str, Any]],
) -> None:
    (node,) = _test_nodes(outcomes["two"])
    line = next(x for x in node.splitlines() if "model_rules failed:" in x)
    assert line.endswith(
        f"model_rules failed: {BROKEN['not_null']}; {BROKEN['accepted_values']}"
    ), line
