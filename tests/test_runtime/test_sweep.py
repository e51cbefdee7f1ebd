"""The sweep: plan, launch order, and the real CLI sweep of conftest.py."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from orch_assets.runtime.store import RuntimeStore
from orch_assets.runtime.sweep import SweepPlan, parse_thread_list
from tests.test_runtime.conftest import Swept


def test_launches_interleave_configurations_round_by_round() -> None:
    plan = SweepPlan(threads=(1, 2, 4), repeats=2)
    assert plan.launches() == [(0, 1), (0, 2), (0, 4), (1, 1), (1, 2), (1, 4)]


@pytest.mark.parametrize(
    "plan",
    [
        dict(threads=()),
        dict(threads=(1, 1)),
        dict(threads=(1,), repeats=0),
        dict(threads=(1,), run_config={"threads": 2}),
    ],
    ids=["no-threads", "duplicate", "no-repeats", "threads-in-config"],
)
def test_an_invalid_plan_is_rejected(plan: dict) -> None:
    with pytest.raises(ValueError):
        SweepPlan(**plan)


@pytest.mark.parametrize(
    "text", ["0,1", "1,17", "auto", "1,x"], ids=["zero", "seventeen", "auto", "text"]
)
def test_thread_lists_accept_only_explicit_counts_from_1_to_16(text: str) -> None:
    with pytest.raises(ValueError):
        parse_thread_list(text)


def test_the_cli_rejects_a_bad_thread_list_before_any_run() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "orch_assets.cli", "sweep", "--threads", "1,17"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert completed.returncode == 2
    assert "threads must be an integer from 1 to 16" in completed.stdout


def test_the_cli_sweep_prints_progress_then_the_report(swept: Swept) -> None:
    assert swept.returncode == 0, swept.stdout[-3000:]
    lines = swept.stdout.splitlines()
    progress = [line for line in lines if re.match(r"\[\d/\d\]", line)]
    assert [p.split(",")[0] for p in progress] == ["[1/2] threads=1", "[2/2] threads=2"]
    results = [line for line in lines if line.startswith("    success")]
    assert len(results) == 2
    assert lines.index(results[0]) < lines.index(progress[1]), "each run is reported as it ends"
    assert "Outputs identical across 2 configurations" in swept.stdout
    assert re.search(r"Chart: /\S+\.png", swept.stdout)


def test_sweep_runs_are_recorded_with_their_sweep_and_resource_figures(swept: Swept) -> None:
    rows = RuntimeStore().table(swept.instance).rows("sweep_id is not null")

    assert {r.configuration.split()[0] for r in rows} == {"threads=1", "threads=2"}
    assert {r.executor_mode for r in rows} == {"thread"}, "the adaptive executor is the default"
    assert all(r.configuration.endswith(f"thread/{r.max_concurrent}") for r in rows)
    assert len({r.sweep_id for r in rows}) == 1
    assert {r.status for r in rows} == {"success"}
    assert len({r.fingerprint for r in rows}) == 1 and len(rows[0].fingerprint) == 64
    assert len({r.inputs_key for r in rows}) == 1
    assert '"merit_pct": 0.04' in rows[0].inputs_json, "--config reached the runs"
    for row in rows:
        assert row.metrics_source in ("sweep", "executor")
        assert row.peak_rss_bytes > 50 * 1024**2, "the run, its step process and the dbt worker"
        assert row.mean_cpu_percent > 0
        tags = swept.instance.get_run_by_id(row.run_id).tags
        assert tags["orch/sweep"] == row.sweep_id
    assert not (swept.home / "orch_runtime" / "sweeps" / rows[0].sweep_id).exists(), "data removed"
