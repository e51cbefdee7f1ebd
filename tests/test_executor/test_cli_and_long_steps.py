"""Launching through the ``dagster job execute`` CLI, long subprocess steps, worker reuse."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from tests.test_executor import jobs
from tests.test_executor.support import events_of, max_overlap, run, step_intervals

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).with_name("dagster")


def dagster_job_execute(home: Path, job_name: str, executor_config: dict[str, object], **env: str) -> subprocess.CompletedProcess[str]:
    config = home / "run_config.yaml"
    config.write_text(yaml.safe_dump({"execution": {"config": executor_config}}))
    return subprocess.run(
        [str(DAGSTER), "job", "execute", "-m", "tests.test_executor.jobs", "-d", str(REPO_ROOT),
         "-j", job_name, "-c", str(config)],
        env={**os.environ, "DAGSTER_HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


@pytest.fixture
def cli_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return home


def test_the_cli_runs_a_job_with_the_env_cap_and_records_it(cli_home: Path) -> None:
    completed = dagster_job_execute(cli_home, "wide_sleep_job", {"mode": "thread"}, ORCH_MAX_CONCURRENT="4")

    assert completed.returncode == 0, completed.stderr[-2000:]
    with DagsterInstance.from_config(str(cli_home)) as instance:
        (dagster_run,) = instance.get_runs()
        assert dagster_run.status == DagsterRunStatus.SUCCESS
        assert dagster_run.tags["orch/max_concurrent"] == "4"
        assert max_overlap(step_intervals(instance, dagster_run.run_id).values()) == 4


def test_the_cli_rejects_an_out_of_range_value_naming_the_field(cli_home: Path) -> None:
    completed = dagster_job_execute(cli_home, "wide_sleep_job", {"memory_pause_percent": 120})

    assert completed.returncode != 0
    assert "'memory_pause_percent' must be a number from 1 to 100, got 120" in completed.stdout + completed.stderr


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_single_step_running_a_long_subprocess_completes(
    executor_instance: DagsterInstance, mode: str
) -> None:
    result = run(
        executor_instance,
        jobs.long_subprocess_job,
        {"mode": mode, "sample_interval_s": 0.2},
        ops={"long_subprocess": {"config": {"seconds": 6.0}}},
    )

    assert result.success
    interval = step_intervals(executor_instance, result.run_id)["long_subprocess"]
    assert interval.end - interval.start >= 6.0


def test_process_mode_reuses_worker_processes_across_steps(executor_instance: DagsterInstance) -> None:
    result = run(executor_instance, jobs.wide_sleep_job, {"mode": "process", "max_concurrent": 2})

    assert result.success
    pids = {
        entry.pid
        for entry in events_of(executor_instance, result.run_id, DagsterEventType.STEP_START)
    }
    assert len(pids) == 2
