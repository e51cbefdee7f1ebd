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
from collections import Counter
from pathlib import Path

import pytest
import yaml
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DagsterSubprocessError,
    EventLogEntry,
    instance_for_test,
)

from orch_assets.executor import RUN_PROCESS_TAG
from orch_assets.simulation.dead_runs import end_dead_runs
from tests.test_executor import safety_jobs
from tests.test_executor.support import entries, events_of, failure_messages, run

REPO_ROOT = Path(__file__).resolve().parents[2]
STRESS_RUNS = 50
PER_RUN_TIMEOUT_S = 30.0
STRESS_BUDGET_S = 90.0
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


def _home(tmp_path: Path) -> Path:
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
    return home


def test_sigterm_mid_step_ends_a_thread_mode_run_within_five_seconds(tmp_path: Path) -> None:
    home = _home(tmp_path)
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


@pytest.mark.parametrize("mode", ["thread", "process", "sequential"])
def test_a_failing_user_log_write_is_replaced_by_dagsters_engine_event(mode: str) -> None:
    """Grouped writes once stored user logs without ``handle_new_event`` (no replacement)."""
    overrides = {
        "instance_class": {
            "module": "tests.test_executor.safety_jobs",
            "class": "UserLogsFailInstance",
        }
    }
    with instance_for_test(overrides=overrides) as instance:
        assert type(instance).__name__ == "UserLogsFailInstance"
        result = run(instance, safety_jobs.user_log_job, {"mode": mode})

        assert result.success
        stored = entries(instance, result.run_id)
        replaced = Counter(
            entry.step_key
            for entry in stored
            if entry.dagster_event is not None
            and entry.dagster_event.event_type == DagsterEventType.ENGINE_EVENT
            and entry.dagster_event.message == "Exception while writing logger call to event log"
        )
        # Process-mode workers log a few messages of their own, which fail and are replaced too.
        assert replaced["logs_twice"] >= 2 and replaced["logs_once"] >= 1, replaced
        assert not [e for e in stored if e.dagster_event is None and "user message" in e.message]


def test_a_handle_new_event_wrapped_on_the_instance_sees_every_stored_event(
    executor_instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[EventLogEntry] = []
    original = executor_instance.handle_new_event

    def wrapped(event: EventLogEntry, *, batch_metadata: object = None) -> None:
        seen.append(event)
        original(event, batch_metadata=batch_metadata)  # type: ignore[arg-type]

    monkeypatch.setattr(executor_instance, "handle_new_event", wrapped)
    result = run(executor_instance, safety_jobs.user_log_job, {"mode": "thread"})

    assert result.success
    stored = entries(executor_instance, result.run_id)
    assert len(seen) >= len(stored)
    user_messages = [e.user_message for e in seen if e.dagster_event is None]
    assert {"first user message", "second user message", "third user message"} <= {
        m.split(" - ")[-1] for m in user_messages
    }


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_raise_on_error_raises_when_the_io_manager_fails_to_initialise(
    executor_instance: DagsterInstance, mode: str
) -> None:
    """As the multiprocess executor does; the adaptive executor used to return a failed result."""
    with pytest.raises(DagsterSubprocessError, match="the IO manager cannot start"):
        run(
            executor_instance,
            safety_jobs.failing_io_manager_job,
            {"mode": mode},
            raise_on_error=True,
        )

    (dagster_run,) = executor_instance.get_runs()
    assert dagster_run.status == DagsterRunStatus.FAILURE


@pytest.mark.parametrize("mode", ["thread", "sequential"])
def test_an_isolated_op_that_ends_its_process_fails_only_its_step(
    executor_instance: DagsterInstance, mode: str
) -> None:
    """Without isolation ``os._exit(1)`` in a thread-mode op ended the whole run process."""
    result = run(executor_instance, safety_jobs.isolated_crash_job, {"mode": mode})

    assert not result.success
    (dagster_run,) = executor_instance.get_runs()
    assert dagster_run.status == DagsterRunStatus.FAILURE
    failures = failure_messages(executor_instance, result.run_id)
    assert set(failures) == {"exits_hard"}
    assert (
        "worker process for step exits_hard unexpectedly exited with code 1"
        in (failures["exits_hard"])
    )
    succeeded = events_of(executor_instance, result.run_id, DagsterEventType.STEP_SUCCESS)
    assert {e.step_key for e in succeeded} == {"survives"}
    starting = events_of(executor_instance, result.run_id, DagsterEventType.STEP_WORKER_STARTING)
    assert [e.step_key for e in starting] == ["exits_hard"]


def test_a_run_whose_process_died_is_found_and_ended_as_failed(tmp_path: Path) -> None:
    """An unisolated ``os._exit`` ends the run process; the run records that process, so the
    project's dead-run sensor (any adaptive-executor run, not only simulations) ends the run."""
    home = _home(tmp_path)
    marker = tmp_path / "crashing"
    child = _child("crash", env={"DAGSTER_HOME": str(home), "ORCH_TEST_MARKER": str(marker)})
    try:
        output, _ = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 1 and marker.exists(), output[-3000:]
    with DagsterInstance.from_config(str(home)) as instance:
        (dagster_run,) = instance.get_runs()
        assert dagster_run.status == DagsterRunStatus.STARTED
        assert RUN_PROCESS_TAG in dagster_run.tags

        (ended,) = end_dead_runs(instance, "the test")

        assert "marked failed" in ended
        run_after = instance.get_run_by_id(dagster_run.run_id)
        assert run_after is not None and run_after.status == DagsterRunStatus.FAILURE
