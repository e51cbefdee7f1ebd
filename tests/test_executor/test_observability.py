"""Run tags, the live cap seen by steps, and logs that stay with their step under threads."""

import re
from collections import Counter

import pytest
from dagster import DagsterEventType, DagsterInstance, instance_for_test

from tests.test_executor import jobs
from tests.test_executor.support import (
    engine_messages,
    entries,
    events_of,
    max_overlap,
    run,
    step_intervals,
)


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_the_run_records_its_configuration_and_resource_use_as_tags(
    executor_instance: DagsterInstance, mode: str
) -> None:
    result = run(executor_instance, jobs.wide_sleep_job, {"mode": mode, "max_concurrent": 2})

    assert result.success
    tags = executor_instance.get_run_by_id(result.run_id).tags  # type: ignore[union-attr]
    assert tags["orch/mode"] == mode
    assert tags["orch/max_concurrent"] == "2"
    assert tags["orch/peak_concurrency"] == str(
        max_overlap(step_intervals(executor_instance, result.run_id).values())
    )
    assert int(tags["orch/peak_rss_bytes"]) > 50 * 1024**2
    assert float(tags["orch/mean_cpu_percent"]) >= 0
    _assert_closing_line(executor_instance, result.run_id, mode)


CLOSING = re.compile(
    r"Adaptive executor: (\d+) steps? in ([\d.]+) s; Σ step time ([\d.]+) s; ([\d.]+)× faster "
    r"than one at a time; efficiency (\d+) %\.$"
)


def _assert_closing_line(instance: DagsterInstance, run_id: str, mode: str) -> None:
    """The run's last engine event from the executor sums up its parallelism."""
    last = [m for m in engine_messages(instance, run_id) if m.startswith("Adaptive executor:")][-1]
    match = CLOSING.match(last)
    assert match, last
    steps, wall, step_time, speedup, efficiency = match.groups()
    intervals = step_intervals(instance, run_id).values()
    logged_step_time = sum(i.end - i.start for i in intervals)
    assert int(steps) == 8
    assert 8 * 0.5 <= float(step_time) <= logged_step_time + 8 * 0.5
    assert max(i.end for i in intervals) - min(i.start for i in intervals) <= float(wall) + 0.1
    # The line rounds each figure to 0.1: the speed-up from the rounded ones is off by up to ~0.1.
    assert float(speedup) == pytest.approx(float(step_time) / float(wall), abs=0.12)
    # Threads start at once; process mode's worker start-up counts in the wall time.
    assert mode != "thread" or float(speedup) > 1.2, "two at a time"
    peak = max_overlap(intervals)
    assert int(efficiency) == pytest.approx(100 * float(speedup) / peak, abs=3)


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_step_can_read_the_live_cap_of_its_run(
    executor_instance: DagsterInstance, mode: str
) -> None:
    result = run(executor_instance, jobs.live_cap_job, {"mode": mode, "max_concurrent": 5})

    assert result.success
    (output,) = events_of(executor_instance, result.run_id, DagsterEventType.STEP_OUTPUT)
    metadata = output.dagster_event.step_output_data.metadata  # type: ignore[union-attr]
    assert metadata["live_cap"].value == 5


def test_step_logs_stay_with_their_step_when_steps_share_the_process(
    executor_instance: DagsterInstance,
) -> None:
    result = run(executor_instance, jobs.chatty_job, {"max_concurrent": 3})

    assert result.success
    assert max_overlap(step_intervals(executor_instance, result.run_id).values()) == 3
    seen: Counter[tuple[str | None, str]] = Counter()
    for entry in entries(executor_instance, result.run_id):
        if entry.dagster_event is None and "log from chatty_" in entry.user_message:
            seen[(entry.step_key, entry.user_message)] += 1
    for name in ("chatty_a", "chatty_b", "chatty_c"):
        for i in range(5):
            assert seen[(name, f"context log from {name} #{i}")] == 1
            assert seen[(name, f"python log from {name} #{i}")] == 1
    assert all(message.split()[3] == key for (key, message) in seen), "a log landed in another step"
    assert sum(seen.values()) == 30


def test_stdout_of_each_step_is_prefixed_with_its_step_key_in_the_run_compute_log(
    executor_instance: DagsterInstance,
) -> None:
    result = run(executor_instance, jobs.chatty_job, {"max_concurrent": 3})

    (captured,) = events_of(executor_instance, result.run_id, DagsterEventType.LOGS_CAPTURED)
    data = captured.dagster_event.logs_captured_data  # type: ignore[union-attr]
    assert set(data.step_keys) == {"chatty_a", "chatty_b", "chatty_c"}
    manager = executor_instance.compute_log_manager
    log_key = manager.build_log_key_for_run(result.run_id, data.file_key)
    stdout = manager.get_log_data(log_key).stdout.decode()  # type: ignore[union-attr]
    for name in ("chatty_a", "chatty_b", "chatty_c"):
        for i in range(5):
            assert f"[{name}] stdout from {name} #{i}\n" in stdout
    assert "stdout from chatty_a" not in stdout.replace("[chatty_a] stdout from chatty_a", "")


@pytest.mark.timeout(90)
@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
def test_threads_do_not_deadlock_when_dagster_yaml_configures_python_logging() -> None:
    """Regression: per-step dictConfig under threads deadlocked the run (FINDINGS trap 1)."""
    overrides = {
        "python_logs": {
            "python_log_level": "INFO",
            "managed_python_loggers": ["orch_test_logger"],
            "dagster_handler_config": {
                "handlers": {"null_handler": {"class": "logging.NullHandler"}},
            },
        }
    }
    with instance_for_test(overrides=overrides) as instance:
        for _ in range(3):
            result = run(instance, jobs.chatty_job, {"max_concurrent": 3})
            assert result.success
