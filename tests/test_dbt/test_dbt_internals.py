"""The dbt internals the model gate relies on (orch_assets/dbt/_dbt_internals.py).

A dbt-core upgrade that changes how nodes reach the thread pool must fail here, not silently
run models ungated.
"""

from __future__ import annotations

from dbt.version import __version__ as dbt_version

from orch_assets.dbt._dbt_internals import (
    internal_shapes,
    submits_through_pool_apply_async,
)


def test_dbt_core_is_the_pinned_minor_version() -> None:
    assert dbt_version.startswith("1.11."), dbt_version


def test_the_node_runner_signatures_the_gate_wraps_are_unchanged() -> None:
    assert internal_shapes() == {
        "GraphRunnableTask.run_queue": ["self", "pool"],
        "GraphRunnableTask.call_runner": ["self", "runner"],
        "BuildTask.call_model_and_unit_tests_runner": ["self", "node", "pool"],
    }


def test_dbt_hands_every_node_to_its_pool_through_apply_async() -> None:
    assert submits_through_pool_apply_async()
