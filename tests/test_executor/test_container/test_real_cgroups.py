"""The executor in real kernel cgroups: a 1.7 GB memory limit and a quota of one CPU."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, instance_for_test

from orch_assets.runtime.recommend import machine_key
from orch_assets.runtime.records import row_for_run
from tests.test_executor.support import (
    engine_messages,
    events_of,
    max_overlap,
    step_intervals,
)
from tests.test_executor.test_container.real_cgroups import run_job_in, v1_cgroup

MEMORY_LIMIT = "1700000000"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "dagster_home"
    path.mkdir()
    return path


@contextmanager
def instance_at(home: Path) -> Iterator[DagsterInstance]:
    """The instance the subprocess wrote to (``DAGSTER_HOME`` = ``home``)."""
    with instance_for_test(temp_dir=str(home)) as instance:
        yield instance


@pytest.fixture
def memory_cgroup() -> Iterator[Path]:
    with v1_cgroup("memory", {"memory.limit_in_bytes": MEMORY_LIMIT}) as path:
        yield path
    assert not path.exists(), "the cgroup is removed after the test"


def test_six_450mb_steps_in_a_1_7gb_cgroup_run_at_most_three_at_once_instead_of_oom(
    memory_cgroup: Path, home: Path
) -> None:
    """Regression: the cap read the host's 23 GiB, launched all six and the kernel OOM-killed
    the run process (nothing printed, the run left STARTED)."""
    done, result = run_job_in(
        [memory_cgroup], home, "six_holders_job",
        {"max_concurrent": 6, "memory_per_step_gb": 0.5, "sample_interval_s": 0.2},
    )  # fmt: skip

    oom = (memory_cgroup / "memory.oom_control").read_text() if memory_cgroup.exists() else ""
    assert result is not None and result["success"], (
        f"exit {done.returncode}; {oom!r}; {done.stderr[-2000:]}"
    )
    with instance_at(home) as instance:
        run_id = result["run_id"]
        assert len(events_of(instance, run_id, DagsterEventType.STEP_SUCCESS)) == 6
        overlap = max_overlap(step_intervals(instance, run_id).values())
        assert 1 <= overlap <= 3, f"{overlap} steps of 450 MB at once in 1.7 GB"
        first = engine_messages(instance, run_id)[0]
    assert first.startswith("Adaptive executor: mode thread, max_concurrent 6")
    assert f"/{memory_cgroup.name} (memory.limit_in_bytes)" in first, first
    assert "memory limit 1.58 GiB from cgroup v1" in first, first


def test_a_quota_of_one_cpu_makes_auto_one_in_process_mode_and_for_dbt_threads(
    home: Path,
) -> None:
    with v1_cgroup("cpu", {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "100000"}) as cpu:
        done, result = run_job_in(
            [cpu], home, "cpu_report_job", {"mode": "process", "max_concurrent": "auto"}
        )
    assert result is not None and result["success"], done.stderr[-2000:]
    with instance_at(home) as instance:
        run_id = result["run_id"]
        tags = instance.get_run_by_id(run_id).tags  # type: ignore[union-attr]
        first = engine_messages(instance, run_id)[0]
        (output,) = events_of(instance, run_id, DagsterEventType.STEP_OUTPUT)
        (worker,) = events_of(instance, run_id, DagsterEventType.STEP_WORKER_STARTED)
        (record,) = instance.get_run_records()
        row = row_for_run(
            record, instance.get_run_step_stats(run_id), None, datetime.now(), "node-7", 64
        )
    assert row.cpu_count == 1, "the runtime history records the run's CPUs, not the recorder's"
    assert machine_key(row.host, row.cpu_count) == "node-7 (1 CPUs)"
    assert tags["orch/max_concurrent"] == "1" and tags["orch/cpus"] == "1"
    assert (
        f"max_concurrent 1 (config auto, CPUs 1 from the CPU quota 1 of cgroup v1 /{cpu.name})"
        in first
    )
    worker_metadata = worker.dagster_event.event_specific_data.metadata  # type: ignore[union-attr]
    assert worker_metadata["cgroup_cpus"].value == (
        f"CPUs 1 from the CPU quota 1 of cgroup v1 /{cpu.name}"
    ), "the step process reports its own cgroup"
    metadata = output.dagster_event.step_output_data.metadata  # type: ignore[union-attr]
    assert metadata["dbt_threads"].value == 1
    assert metadata["step_cpus"].value == 1, "the step process reads its own cgroup"
    assert f"CPU quota 1 of cgroup v1 /{cpu.name}" in str(metadata["threads_source"].value)
