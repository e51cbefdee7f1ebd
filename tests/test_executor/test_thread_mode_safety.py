"""Thread mode never hangs and never bypasses the instance (issue 28).

The hang: with the root logger managed by Dagster, a step thread held its Dagster log handler's
lock while waiting for the run's event writer, and the writer logged SQLAlchemy's records to
the root logger, into that handler. Hangs cannot be caught in-process, so runs go in a child.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from dagster import DagsterInstance, DagsterRunStatus

REPO_ROOT = Path(__file__).resolve().parents[2]
STRESS_RUNS = 50
PER_RUN_TIMEOUT_S = 30.0
STRESS_BUDGET_S = 150.0
"""Runs stop early (at least ``MIN_STRESS_RUNS`` done) rather than overrun this on a slow box."""
MIN_STRESS_RUNS = 20


def _child(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.test_executor.logging_stress", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_fifty_runs_with_the_root_logger_managed_at_debug_and_info_never_hang() -> None:
    child = _child("stress", str(STRESS_RUNS), str(PER_RUN_TIMEOUT_S), str(STRESS_BUDGET_S))
    try:
        output, _ = child.communicate(timeout=STRESS_BUDGET_S + 2 * PER_RUN_TIMEOUT_S)
    finally:
        child.kill()
    done = [line for line in output.splitlines() if line.startswith("ok ")]
    assert child.returncode == 0, output[-6000:]
    assert len(done) == STRESS_RUNS or ("budget" in output and len(done) >= MIN_STRESS_RUNS), (
        output[-3000:]
    )
    assert {line.split()[1] for line in done} == {"DEBUG", "INFO"}


def test_sigterm_mid_step_ends_a_thread_mode_run_within_five_seconds(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        yaml.safe_dump(
            {
                "telemetry": {"enabled": False},
                "python_logs": {"managed_python_loggers": ["root"], "python_log_level": "DEBUG"},
            }
        )
    )
    marker = tmp_path / "running"
    child = _child("endless", env={"DAGSTER_HOME": str(home), "ORCH_TEST_MARKER": str(marker)})
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None and time.monotonic() < deadline, child.stdout
            time.sleep(0.05)
        time.sleep(0.5)
        child.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        child.wait(timeout=30)
        ended_after = time.monotonic() - sent
    finally:
        child.kill()
    assert ended_after < 5.0
    with DagsterInstance.from_config(str(home)) as instance:
        (dagster_run,) = instance.get_runs()
        assert dagster_run.status in (DagsterRunStatus.CANCELED, DagsterRunStatus.FAILURE)
