"""The ``dagster job execute`` CLI (launch, termination), long subprocess steps, worker reuse."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from tests.test_executor import jobs
from tests.test_executor.support import (
    events_of,
    failure_messages,
    max_overlap,
    run,
    step_intervals,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).with_name("dagster")


def dagster_job_execute(
    home: Path, job_name: str, executor_config: dict[str, object], **env: str
) -> subprocess.CompletedProcess[str]:
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
    completed = dagster_job_execute(
        cli_home, "wide_sleep_job", {"mode": "thread"}, ORCH_MAX_CONCURRENT="4"
    )

    assert completed.returncode == 0, completed.stderr[-2000:]
    with DagsterInstance.from_config(str(cli_home)) as instance:
        (dagster_run,) = instance.get_runs()
        assert dagster_run.status == DagsterRunStatus.SUCCESS
        assert dagster_run.tags["orch/max_concurrent"] == "4"
        assert max_overlap(step_intervals(instance, dagster_run.run_id).values()) == 4


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_terminating_the_cli_run_stops_the_running_step_and_its_subprocess(
    cli_home: Path, mode: str
) -> None:
    config = cli_home / "run_config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "execution": {"config": {"mode": mode}},
                "ops": {"long_subprocess": {"config": {"seconds": 57.0}}},
            }
        )
    )
    cli = subprocess.Popen(
        [str(DAGSTER), "job", "execute", "-m", "tests.test_executor.jobs", "-d", str(REPO_ROOT),
         "-j", "long_subprocess_job", "-c", str(config)],
        env={**os.environ, "DAGSTER_HOME": str(cli_home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        sleeper = _wait_for_descendant(cli.pid, "time.sleep(57.0)", timeout_s=60)
        cli.send_signal(signal.SIGINT)
        cli.wait(timeout=20)
    finally:
        cli.kill()
    psutil.wait_procs([sleeper], timeout=5)
    assert not sleeper.is_running() or sleeper.status() == psutil.STATUS_ZOMBIE
    with DagsterInstance.from_config(str(cli_home)) as instance:
        (dagster_run,) = instance.get_runs()
        assert dagster_run.status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
        failures = failure_messages(instance, dagster_run.run_id)
        assert (
            'Step "long_subprocess" was stopped: the run was terminated.'
            in failures["long_subprocess"]
        )


def _wait_for_descendant(pid: int, needle: str, timeout_s: float) -> psutil.Process:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for child in psutil.Process(pid).children(recursive=True):
            try:
                if needle in " ".join(child.cmdline()):
                    return child
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.2)
    raise AssertionError(f"no descendant running {needle!r} after {timeout_s} s")


def test_the_cli_rejects_an_out_of_range_value_naming_the_field(cli_home: Path) -> None:
    completed = dagster_job_execute(cli_home, "wide_sleep_job", {"memory_pause_percent": 120})

    assert completed.returncode != 0
    assert (
        "'memory_pause_percent' must be a number from 1 to 100, got 120"
        in completed.stdout + completed.stderr
    )


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


def test_process_mode_reuses_worker_processes_across_steps(
    executor_instance: DagsterInstance,
) -> None:
    result = run(executor_instance, jobs.wide_sleep_job, {"mode": "process", "max_concurrent": 2})

    assert result.success
    pids = {
        entry.dagster_event.pid  # type: ignore[union-attr]
        for entry in events_of(executor_instance, result.run_id, DagsterEventType.STEP_START)
    }
    assert len(pids) == 2
