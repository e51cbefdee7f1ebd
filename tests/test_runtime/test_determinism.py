"""Which runs the determinism check compares, and what it says."""

from __future__ import annotations

from orch_assets.runtime.determinism import check_determinism
from tests.test_runtime.rows import make_row


def test_same_inputs_at_two_thread_settings_with_one_fingerprint_pass() -> None:
    result = check_determinism(
        [make_row("a", 1, 10.0), make_row("b", 2, 9.0), make_row("c", 2, 9.5)]
    )

    assert result.passed
    assert result.statement().startswith("Outputs identical across 2 configurations (3 runs")


def test_different_fingerprints_for_the_same_inputs_fail_naming_runs_and_configurations() -> None:
    result = check_determinism(
        [
            make_row("run-a", 1, 10.0, fingerprint="1" * 64),
            make_row("run-b", 2, 9.0, fingerprint="2" * 64),
        ]
    )

    assert not result.passed
    statement = result.statement()
    assert "run-a (threads=1)" in statement and "run-b (threads=2)" in statement


def test_runs_with_different_inputs_are_never_compared() -> None:
    result = check_determinism(
        [make_row("a", 1, 10.0, fingerprint="1" * 64, inputs_key="seed-1"),
         make_row("b", 2, 9.0, fingerprint="2" * 64, inputs_key="seed-2")]
    )  # fmt: skip

    assert result.passed
    assert result.compared_groups == 0
    assert result.statement().startswith("Not compared yet")


def test_failed_runs_and_runs_without_a_fingerprint_are_left_out() -> None:
    result = check_determinism(
        [make_row("a", 1, 10.0), make_row("b", 2, 9.0, fingerprint="2" * 64, status="failure"),
         make_row("c", 4, 9.0, fingerprint=None)]
    )  # fmt: skip

    assert result.passed
    assert result.runs == 1
