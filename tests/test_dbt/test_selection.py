"""Pure argument builders, checked without running dbt."""

from __future__ import annotations

import json

import pytest

from orch_assets.config import SimulationConfig, parse_threads, resolve_threads
from orch_assets.simulation.selection import conditional_exclusions, subset_selection, with_upstream
from tests.conftest import DBT_PROJECT_DIR


def _model(name: str, cls: str, **meta: str) -> dict:
    return {
        "name": name,
        "unique_id": f"model.p.{name}",
        "resource_type": "model",
        "config": {"meta": {"execution_class": cls, **meta}},
    }


MANIFEST = {
    "nodes": {
        m["unique_id"]: m
        for m in [
            _model("calc", "parallel_safe"),
            _model("state", "sequential"),
            _model("cola", "conditional", enabled_by="enable_cola"),
        ]
    }
}


@pytest.mark.parametrize(
    ("run_vars", "project_vars", "excluded"),
    [({}, {"enable_cola": False}, ["cola"]),
     ({"enable_cola": True}, {"enable_cola": False}, []),
     ({}, {"enable_cola": True}, []),
     ({"enable_cola": "false"}, {"enable_cola": True}, ["cola"])],
    ids=["project-default-off", "run-switches-on", "project-default-on", "string-false"],
)  # fmt: skip
def test_conditional_models_are_excluded_when_their_switch_is_off(
    run_vars: dict, project_vars: dict, excluded: list[str]
) -> None:
    assert conditional_exclusions(MANIFEST, run_vars, project_vars) == excluded


def test_a_subset_selects_only_the_chosen_models() -> None:
    assert subset_selection(MANIFEST, {"state"}, lambda props: props["name"]) == ["state"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1), (16, 16), ("8", 8), ("auto", "auto"), (" AUTO ", "auto")],
    ids=["one", "sixteen", "digit-string", "auto", "auto-any-case"],
)
def test_valid_thread_settings_parse(value: object, expected: object) -> None:
    assert parse_threads(value) == expected


@pytest.mark.parametrize("value", [0, 17, -1, "abc", 2.5, True, None], ids=str)
def test_invalid_thread_settings_name_the_field_and_range(value: object) -> None:
    with pytest.raises(ValueError, match=r"^threads must be an integer from 1 to 16 or 'auto'"):
        parse_threads(value)


def test_threads_come_from_run_config_then_environment_then_cpu_count() -> None:
    assert resolve_threads(4, {"ORCH_THREADS": "2"}, 8) == (4, "run config")
    assert resolve_threads(None, {"ORCH_THREADS": "2"}, 8) == (2, "ORCH_THREADS")
    assert resolve_threads(None, {}, 8)[0] == 8
    assert resolve_threads(None, {}, 64)[0] == 16
    assert resolve_threads("auto", {}, None)[0] == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("end_year", 2024, "end_year must be between 2025 and 2074"),
     ("n_employees", 0, "n_employees must be between 1 and 10000000"),
     ("from_year", 2030, "from_year must be between 2025 and 2029"),
     ("merit_pct", 1.5, "merit_pct must be between 0.0 and 1.0"),
     ("termination_rates", {"0-1": -0.1}, r"termination_rates\['0-1'\] must be between")],
    ids=["end-before-start", "no-employees", "from-after-end", "merit-over-100pc", "negative-rate"],
)  # fmt: skip
def test_out_of_range_options_are_rejected_naming_the_field(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SimulationConfig(**{field: value})


def test_dbt_vars_leave_unset_scenario_parameters_to_the_dbt_project() -> None:
    dbt_vars = SimulationConfig(merit_pct=0.04).dbt_vars()

    assert dbt_vars["merit_pct"] == 0.04
    assert "growth_rate" not in dbt_vars and "enable_cola" not in dbt_vars


def test_a_subset_selects_each_model_with_everything_upstream_of_it() -> None:
    assert with_upstream(["fct_workforce_snapshot", "stg_census"]) == [
        "+fct_workforce_snapshot", "+stg_census"
    ]  # fmt: skip


def test_year_independent_models_are_the_staging_inputs_except_the_yearly_parameters() -> None:
    from orch_assets.simulation.selection import once_per_simulation_models

    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    names = once_per_simulation_models(manifest)
    assert "stg_census" in names and "stg_job_levels" in names
    assert "stg_simulation_parameters" not in names
    assert not [n for n in names if not n.startswith("stg_")]


def test_a_once_per_simulation_model_that_reads_a_yearly_model_is_refused_naming_both() -> None:
    from orch_assets.simulation.selection import once_per_simulation_models

    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    uid = next(u for u, p in manifest["nodes"].items() if p["name"] == "int_workforce_needs")
    manifest["nodes"][uid]["config"]["meta"]["once_per_simulation"] = True
    with pytest.raises(ValueError, match=r"int_workforce_needs.* reads .*built every year"):
        once_per_simulation_models(manifest)


def test_later_years_keep_tests_that_also_read_a_yearly_model_and_drop_switched_off_ones() -> None:
    from orch_assets.simulation.selection import later_years_exclusions

    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    excluded = later_years_exclusions(manifest, ["int_cola_events"])
    assert "stg_census" in excluded
    assert not [n for n in excluded if n.startswith("model_rules_fct_workforce_snapshot")]
    assert [n for n in excluded if "int_cola_events" in n]
