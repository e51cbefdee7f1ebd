"""The dbt project's unit tests pass: they run here, in CI, not in every simulation.

A simulation's builds leave unit tests out (``--exclude-resource-type unit_test`` in
``orch_assets/dbt/worker.py``): their inputs are fixed rows, so every run would repeat the same
check. This test runs them the way a dbt developer would: the tested models and their parents
built ``--empty`` (unit tests read their inputs' column types from the database), each model's
unit tests before it, in one ``dbtRunner`` process (``dbt_invoke.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import DBT_PROJECT_DIR
from tests.test_dbt.dbt_invoke import run_in_subprocess

# What a developer types: `dbt build --select +test_type:unit --exclude-resource-type test --empty`.
UNIT_TESTS_BUILD = [
    "build", "--select", "+test_type:unit", "--exclude-resource-type", "test", "--empty",
    "--vars", json.dumps({"simulation_year": 2025}),
]  # fmt: skip


def test_every_unit_test_of_the_dbt_project_passes(tmp_path: Path) -> None:
    spec = {
        "project_dir": str(DBT_PROJECT_DIR),
        "target_path": str(tmp_path / "target"),
        "invocations": [UNIT_TESTS_BUILD],
        "output": str(tmp_path / "outcomes.json"),
    }
    (outcome,) = run_in_subprocess(spec, cwd=tmp_path)

    statuses = {
        unique_id: status
        for unique_id, status, _ in (node.split(": ", 2) for node in outcome["nodes"])
        if unique_id.startswith("unit_test.")
    }
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    assert manifest["unit_tests"], "the project defines unit tests"
    assert statuses == dict.fromkeys(manifest["unit_tests"], "pass"), outcome
    assert outcome["success"], outcome
