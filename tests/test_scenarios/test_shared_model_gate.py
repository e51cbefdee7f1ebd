"""all_scenarios: the class limits hold for the models of every simulation of the run together."""

from __future__ import annotations

import itertools
from pathlib import Path

import dagster as dg

from tests.test_scenarios.helpers import run_all_scenarios


def test_sequential_models_never_overlap_across_the_simulations_of_one_run(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    result = run_all_scenarios(
        instance, tmp_path, n_employees=300, start_year=2025, end_year=2025, threads=4
    )
    assert result.success
    timed = [
        (
            m["orch/started_at"].value,
            m["orch/ended_at"].value,
            m["orch/execution_class"].value,
            key,
        )
        for key, m in (
            (e.asset_key, e.materialization.metadata)
            for e in result.get_asset_materialization_events()
        )
        if "orch/started_at" in m
    ]
    sequential = sorted((s, e, key) for s, e, cls, key in timed if cls == "sequential")
    distinct = len({key for *_, key in sequential})
    assert len(sequential) >= 2 * distinct, "sequential models of several scenarios"
    for (_, end, first), (start, _, second) in itertools.pairwise(sequential):
        assert start >= end, f"{first} and {second} ran at once"
    parallel = [(s, e) for s, e, cls, _ in timed if cls != "sequential"]
    assert any(
        a[0] < b[1] and b[0] < a[1] for i, a in enumerate(parallel) for b in parallel[i + 1 :]
    ), "other models still ran side by side"
