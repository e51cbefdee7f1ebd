"""Building runtime rows: what counts as the same inputs, efficiency, concurrency, cursor."""

from __future__ import annotations

import pytest

import orch_assets.executor as executor
from orch_assets.runtime import tags
from orch_assets.runtime.records import (
    configuration_label,
    configured_threads,
    inputs_key,
    parallel_efficiency,
    peak_overlap,
    run_inputs,
)

SIMULATION_TAGS = {tags.YEARS: "2025-2026", tags.SIMULATION: "baseline"}


def _key(config: dict, tags_: dict | None = None, code_version: str | None = "v1") -> str:
    return inputs_key(
        run_inputs("workforce_simulation", config, tags_ or SIMULATION_TAGS, code_version)
    )


def test_threads_executor_and_data_directory_do_not_change_the_inputs() -> None:
    base = {"n_employees": 1000, "start_year": 2025, "end_year": 2026}
    varied = {
        **base,
        "threads": 4,
        "execution": {"config": {"max_concurrent": 2}},
        "resources": {"simulation_store": {"config": {"data_dir": "/elsewhere"}}},
    }
    assert _key(base) == _key(varied)


def test_unset_options_and_their_explicit_defaults_are_the_same_inputs() -> None:
    assert _key({"n_employees": 1000}) == _key(
        {"n_employees": 1000, "random_seed": 42, "start_year": 2025}
    )


@pytest.mark.parametrize(
    "change",
    [{"random_seed": 7}, {"n_employees": 1001}, {"merit_pct": 0.05}, {"end_year": 2027}],
    ids=["seed", "census", "scenario", "years"],
)
def test_a_different_seed_census_scenario_or_year_range_is_different_inputs(change: dict) -> None:
    base = {"n_employees": 1000, "end_year": 2026}
    assert _key(base) != _key({**base, **change})


def test_a_different_code_version_is_different_inputs() -> None:
    assert _key({}, code_version="v1") != _key({}, code_version="v2")


def test_threads_inside_op_config_are_ignored_too() -> None:
    one = {"ops": {"workforce_models": {"config": {"threads": 1, "n_employees": 10}}}}
    four = {"ops": {"workforce_models": {"config": {"threads": 4, "n_employees": 10}}}}
    assert _key(one, {}) == _key(four, {})


def test_peak_overlap_counts_steps_running_at_once() -> None:
    assert peak_overlap([]) == 0
    assert peak_overlap([(0, 10), (2, 5), (3, 4), (6, 8)]) == 3
    assert peak_overlap([(0, 1), (1, 2)]) == 1, "touching ends do not overlap"


def test_parallel_efficiency_is_step_time_over_wall_times_concurrency() -> None:
    assert parallel_efficiency(16.0, 10.0, 2) == pytest.approx(0.8)
    assert parallel_efficiency(None, 10.0, 2) is None
    assert parallel_efficiency(5.0, 0.0, 1) is None


def test_the_configuration_label_names_the_executor_only_when_known() -> None:
    assert configuration_label(None, None, 2) == "threads=2"
    assert configuration_label("thread", 4, 2) == "threads=2 thread/4"


def test_tag_names_match_the_adaptive_executor() -> None:
    assert (tags.MODE, tags.MAX_CONCURRENT, tags.PEAK_RSS_BYTES, tags.MEAN_CPU_PERCENT,
            tags.PEAK_CONCURRENCY, tags.CPUS) == (
        executor.MODE_TAG, executor.MAX_CONCURRENT_TAG, executor.PEAK_RSS_TAG,
        executor.MEAN_CPU_TAG, executor.PEAK_CONCURRENCY_TAG, executor.CPUS_TAG,
    )  # fmt: skip


def test_a_run_of_several_simulations_reports_the_threads_they_share() -> None:
    shared = {"orch/dbt_threads/scenario_a": "3", "orch/dbt_threads/scenario_b": "3"}
    assert tags.tag_int(tags.with_simulation_tags(shared), tags.DBT_THREADS) == 3
    differing = {**shared, "orch/dbt_threads/scenario_b": "2"}
    assert tags.DBT_THREADS not in tags.with_simulation_tags(differing)


@pytest.mark.parametrize(
    ("run_config", "expected"),
    [
        ({"threads": 4}, 4),
        ({"ops": {"workforce_models": {"config": {"threads": 2}}}}, 2),
        ({"threads": "auto"}, None),
        ({}, None),
    ],
    ids=["flat", "op-config", "auto", "unset"],
)
def test_threads_set_in_run_config_are_known_without_the_step_tag(
    run_config: dict, expected: int | None
) -> None:
    assert configured_threads(run_config) == expected
