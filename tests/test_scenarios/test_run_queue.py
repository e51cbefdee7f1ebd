"""Runs that write one scenario's database, launched at once, take turns instead of failing.

The real path: the repository's dagster.yaml in a temporary DAGSTER_HOME, `dagster job launch`
(the queued run coordinator enqueues), and a real `dagster-daemon run` process that dequeues
under the tag concurrency limits and launches each run in its own process. Two runs of one
scenario wait in the queue (the control case drops the dagster/partition rule and shows that the
same launches then overlap); a scenario run beside an all_scenarios run, launched with them, waits
for the scenario's database pool. The daemon checks the queue every second here (5 s by default):
only the waits between runs get shorter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.conftest import REPO_ROOT

SCENARIO = "low_merit"
TIMEOUT_S = 300
SHAPE = {"n_employees": 500, "start_year": 2025, "end_year": 2025}
# A launch: job, run config, tags.
Launch = tuple[str, dict, dict[str, str]]
SCENARIO_RUN: Launch = (
    "scenario_simulation", {"ops": {"scenario_models": {"config": SHAPE}}},
    {"dagster/partition": SCENARIO},
)  # fmt: skip
ALL_SCENARIOS_RUN: Launch = ("all_scenarios", SHAPE, {})

# Daemons and held pools: one such test at a time (tests/conftest.py).
pytestmark = pytest.mark.xdist_group("daemon")


def _cli(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _launch_at_once_and_run_the_daemon(
    home: Path, env: dict[str, str], tmp_path: Path, launches: list[Launch]
) -> list[tuple[dg.RunRecord, str]]:
    """Each run's record and log text, sorted by start, once the daemon has finished them all."""
    location = ["-m", "orch_assets.definitions", "-d", str(REPO_ROOT)]
    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    settings["run_coordinator"]["config"] = {"dequeue_interval_seconds": 1}
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings))
    # Create the instance's storage first: two CLIs creating a fresh SQLite schema at once race.
    dg.DagsterInstance.from_config(str(home)).dispose()
    processes = []
    for index, (job, run_config, tags) in enumerate(launches):
        config = tmp_path / f"run-{index}.yaml"
        config.write_text(json.dumps(run_config))
        processes.append(subprocess.Popen(
            [_cli("dagster"), "job", "launch", *location, "-j", job, "-c", str(config),
             "--tags", json.dumps(tags)],
            env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))  # fmt: skip
    for process in processes:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        queued = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))
        assert len(queued) == len(launches)
        daemon = subprocess.Popen(
            [_cli("dagster-daemon"), "run", *location],
            env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while time.monotonic() < deadline:
                if all(r.dagster_run.is_finished for r in instance.get_run_records()):
                    break
                time.sleep(1)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
        records = sorted(instance.get_run_records(), key=lambda r: r.start_time or 0)
        return [
            (r, "\n".join(e.message or "" for e in instance.all_logs(r.dagster_run.run_id)))
            for r in records
        ]


def _writing_window(
    instance: dg.DagsterInstance, run_id: str, step_key: str
) -> tuple[float, float]:
    """From the step's first simulated year to its success: the time it writes the database."""
    start = end = None
    for record in instance.all_logs(run_id):
        if record.step_key != step_key:
            continue
        if start is None and (record.user_message or "").startswith("Year 2025 (1/1)"):
            start = record.timestamp
        event = record.dagster_event
        if event is not None and event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            end = record.timestamp
    assert start is not None and end is not None, (run_id, step_key)
    return start, end


@pytest.mark.timeout(TIMEOUT_S + 180)
def test_two_runs_of_a_scenario_and_an_all_scenarios_run_launched_at_once_take_turns_on_its_database(
    dagster_home: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """One daemon session shows both turns: the scenario's two runs queue one after the other
    (the dagster/partition rule), and the all_scenarios run, started beside them, writes the
    scenario's database only while neither of them does (the database's pool)."""
    runs = _launch_at_once_and_run_the_daemon(
        dagster_home, cli_env, tmp_path, [SCENARIO_RUN, SCENARIO_RUN, ALL_SCENARIOS_RUN]
    )

    assert [r.dagster_run.status for r, _ in runs] == [dg.DagsterRunStatus.SUCCESS] * 3
    assert all("Could not set lock" not in logs for _, logs in runs)
    alone = [r for r, _ in runs if r.dagster_run.job_name == "scenario_simulation"]
    (together,) = [r for r, _ in runs if r.dagster_run.job_name == "all_scenarios"]
    first, second = alone
    assert first.end_time is not None and second.start_time is not None
    assert first.end_time <= second.start_time, "the second run started before the first ended"
    assert [r.dagster_run.tags["dagster/partition"] for r in alone] == [SCENARIO] * 2
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        shared = _writing_window(instance, together.dagster_run.run_id, f"simulate_{SCENARIO}")
        for record in alone:
            window = _writing_window(instance, record.dagster_run.run_id, "scenario_models")
            assert window[1] <= shared[0] or shared[1] <= window[0], (window, shared)
    fingerprints = {
        together.dagster_run.tags[f"orch/fingerprint/scenario_{SCENARIO}"],
        *(r.dagster_run.tags["orch/fingerprint"] for r in alone),
    }
    assert len(fingerprints) == 1, "the scenario alone equals it in all_scenarios, run after run"


@pytest.mark.timeout(TIMEOUT_S + 180)
def test_without_the_partition_rule_the_same_launches_overlap(
    dagster_home: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Control: the serial order above comes from the rule, not from chance or slow launches."""
    settings = yaml.safe_load((dagster_home / "dagster.yaml").read_text())
    runs_queue = settings["concurrency"]["runs"]
    runs_queue["tag_concurrency_limits"] = [
        rule for rule in runs_queue["tag_concurrency_limits"] if rule["key"] != "dagster/partition"
    ]
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(settings))

    runs = _launch_at_once_and_run_the_daemon(dagster_home, cli_env, tmp_path, [SCENARIO_RUN] * 2)

    (first, _), (second, _) = runs
    assert second.start_time is not None and first.end_time is not None
    assert second.start_time < first.end_time, "without the rule both runs start at once"
