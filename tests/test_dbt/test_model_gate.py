"""Execution classes and the live cap inside ONE dbt build (``GatedDbtCliResource``, real dbt
and DuckDB).

The fixture project has two ``sequential`` and three ``parallel_safe`` models, independent in the
DAG, each a Python model that sleeps: intervals come from the invocation's node timings.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from orch_assets.dbt import GatedDbtCliInvocation
from orch_assets.dbt.gated_main import write_cap
from tests.test_dbt.gate_support import (
    any_overlap,
    models,
    overlaps,
    parse_gate_project,
    run_gate_project,
    table_contents,
)


@pytest.fixture(scope="module", autouse=True)
def _parsed() -> None:
    parse_gate_project()


def test_sequential_models_never_overlap_while_parallel_safe_ones_do_at_threads_4(
    tmp_path: Path,
) -> None:
    timings = run_gate_project(tmp_path, threads=4).node_timings
    sequential, parallel = (
        models(timings, "sequential"),
        models(timings, "parallel_safe"),
    )
    assert len(sequential) == 2 and len(parallel) == 3
    assert not any_overlap(sequential)
    assert any_overlap(parallel)
    # The second sequential model waited for its class slot, and that wait is recorded.
    assert max(t["wait_s"] for t in sequential) > 0.2


def test_class_limit_1_serialises_parallel_safe_models_with_outputs_identical_to_ungated(
    tmp_path: Path,
) -> None:
    gated = run_gate_project(
        tmp_path / "gated", class_limits={"sequential": 1, "parallel_safe": 1}
    ).node_timings
    assert not any_overlap(models(gated, "parallel_safe"))
    # A waiting parallel_safe model did not block the sequential ones: some ran beside it.
    assert any(
        overlaps(s, p) for s in models(gated, "sequential") for p in models(gated, "parallel_safe")
    )
    run_gate_project(tmp_path / "plain", gate=False)
    assert table_contents(tmp_path / "gated" / "workforce.duckdb") == table_contents(
        tmp_path / "plain" / "workforce.duckdb"
    )


def test_a_cap_lowered_to_1_mid_build_serialises_the_remaining_nodes_and_says_so(
    tmp_path: Path,
) -> None:
    lowered: list[float] = []

    def lower_cap_when_the_first_node_finishes(
        invocation: GatedDbtCliInvocation, raw: dict[str, Any]
    ) -> None:
        if raw["info"]["name"] == "LogModelResult" and not lowered:
            write_cap(invocation.target_path, 1)
            lowered.append(time.time())

    invocation = run_gate_project(
        tmp_path, threads=4, on_event=lower_cap_when_the_first_node_finishes
    )
    timings = invocation.node_timings
    assert [(old, new) for _, old, new in invocation.cap_changes] == [(4, 1)]
    applied = invocation.cap_changes[0][0]
    assert applied >= lowered[0] - 0.01
    before = [t for t in timings if t["start"] < applied]
    after = [t for t in timings if (t["admitted"] or 0) > applied]
    assert any_overlap(before), "the build ran in parallel before the cap dropped"
    assert after, "some nodes were let go to dbt's pool after the cap dropped"
    for node in after:
        assert not any(overlaps(node, other) for other in timings if other is not node)
