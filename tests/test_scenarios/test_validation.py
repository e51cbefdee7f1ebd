"""Scenario files are validated at load: each bad case fails naming the file, field and rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from orch_assets.scenarios import ScenarioError, load_scenarios

CASES = [
    ("name: ../etc\nparameters: {}\n", r"name: must match"),
    ("name: a/b\n", r"name: must match"),
    ("name: \"x; drop table fct_workforce_snapshot\"\n", r"name: must match"),
    ("name: Upper\n", r"name: must match"),
    (f"name: {'a' * 41}\n", r"name: must match .*at most 40 characters"),
    ("name: 7up\n", r"name: must match"),
    ("name: ok\nparameters: {growth_rate: 5.0}\n",
     r"parameters\.growth_rate: growth_rate must be between -0\.9 and 1\.0, got 5\.0"),
    ("name: ok\nparameters: {merit_pct: -0.1}\n", r"parameters\.merit_pct: merit_pct must be between 0\.0 and 1\.0"),
    ("name: ok\nparameters: {termination_rates: {'0-1': 2}}\n", r"termination_rates\['0-1'\] must be between"),
    ("name: ok\nparameters: {n_employees: lots}\n", r"parameters\.n_employees: .*integer"),
    ("name: ok\nparameters: {growth: 0.1}\n", r"parameters\.growth: unknown parameter; allowed: .*growth_rate"),
    ("name: ok\nparameters: {threads: 4}\n", r"parameters\.threads: unknown parameter"),
    ("name: ok\nparams: {}\n", r"params: unknown key; allowed: description, name, parameters"),
    ("name: ok\nparameters: [1, 2]\n", r"parameters: must be a mapping"),
    ("- just\n- a list\n", r"<file>: must be a mapping"),
    ("name: [unclosed\n", r"<file>: is not valid YAML"),
]  # fmt: skip
IDS = [
    "path-traversal", "path-separator", "sql-in-name", "uppercase", "too-long", "leading-digit",
    "growth-out-of-range", "negative-merit", "band-rate-over-one", "wrong-type", "unknown-parameter",
    "threads-not-a-scenario-parameter", "unknown-top-level-key", "parameters-not-a-mapping",
    "not-a-mapping", "broken-yaml",
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), CASES, ids=IDS)
def test_a_bad_scenario_file_fails_at_load_naming_file_field_and_rule(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)

    with pytest.raises(ScenarioError, match=message) as raised:
        load_scenarios(tmp_path)
    assert str(path) in str(raised.value)


def test_two_files_with_one_name_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: same\n")
    (tmp_path / "b.yaml").write_text("name: same\nparameters: {merit_pct: 0.02}\n")

    with pytest.raises(
        ScenarioError, match=r"b\.yaml: name: duplicated scenario name 'same', also in .*a\.yaml"
    ):
        load_scenarios(tmp_path)


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no scenario files"):
        load_scenarios(tmp_path)


def test_the_repository_scenarios_load_and_run_options_override_only_the_run_shape() -> None:
    scenarios = {s.name: s for s in load_scenarios()}

    assert {"baseline", "high_growth", "high_turnover", "low_merit"} <= set(scenarios)
    config = scenarios["high_growth"].config(n_employees=500, end_year=2026, threads=None)
    assert (config.growth_rate, config.n_employees, config.end_year) == (0.08, 500, 2026)
    assert scenarios["high_growth"].simulation == "scenario_high_growth"
    assert scenarios["high_growth"].pool == "duckdb/scenario_high_growth"
