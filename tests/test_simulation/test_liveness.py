"""Pool slots of dead holders are freed, live or unverifiable ones kept; dead runs are ended.

Real parts: a Dagster instance whose pools default to one slot, real processes started and
SIGKILLed to be the dead holders, psutil. The whole crash, through the CLI, is in test_crash.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import dagster as dg
import pytest

from orch_assets.sensors import orch_dead_runs
from orch_assets.simulation.liveness import HOLDER_TAG_PREFIX, RUN_PROCESS_TAG, ProcessId
from orch_assets.simulation.pool import free_dead_holders

STEP = "simulate"


@pytest.fixture(scope="module")
def module_instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as inst:
        yield inst


@pytest.fixture
def pool(module_instance: dg.DagsterInstance, request: pytest.FixtureRequest) -> str:
    """A one-slot pool of this test's own in the module's instance."""
    name = f"duckdb/test_{abs(hash(request.node.nodeid))}"
    module_instance.event_log_storage.set_concurrency_slots(name, 1)
    return name


@pytest.fixture
def pooled_instance(module_instance: dg.DagsterInstance, pool: str) -> dg.DagsterInstance:
    return module_instance


@pytest.fixture(scope="module")
def dead_process() -> ProcessId:
    """A process that existed on this host and was SIGKILLed."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    identity = ProcessId.of(proc.pid)
    proc.kill()
    proc.wait()
    return identity


def _holding_run(
    instance: dg.DagsterInstance, pool: str, run_process: ProcessId, *holders: ProcessId
) -> str:
    """A STARTED run that claimed ``pool`` for STEP, with the tags a step records before claiming."""
    tags = {RUN_PROCESS_TAG: run_process.encode()}
    if holders:
        tags[HOLDER_TAG_PREFIX + STEP] = " ".join(h.encode() for h in holders)
    run = instance.add_run(
        dg.DagsterRun(job_name="holder_job", status=dg.DagsterRunStatus.STARTED, tags=tags)
    )
    assert instance.event_log_storage.claim_concurrency_slot(pool, run.run_id, STEP).is_claimed
    return run.run_id


def _claimed(instance: dg.DagsterInstance, pool: str) -> list[str]:
    return [s.run_id for s in instance.event_log_storage.get_concurrency_info(pool).claimed_slots]


def test_a_slot_whose_run_process_is_gone_is_freed_and_the_run_marked_failed(
    pooled_instance: dg.DagsterInstance, pool: str, dead_process: ProcessId
) -> None:
    run_id = _holding_run(pooled_instance, pool, dead_process, dead_process)

    (sentence,) = free_dead_holders(pooled_instance, pool, "the-claimant")

    assert sentence.startswith(f"Freed pool {pool}: it was held by run {run_id} step {STEP}")
    assert f"pid {dead_process.pid} on this host" in sentence
    assert sentence.endswith(f"run {run_id} was still STARTED and is now marked failed")
    assert _claimed(pooled_instance, pool) == []
    run = pooled_instance.get_run_by_id(run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.FAILURE


def test_a_slot_is_kept_while_a_process_the_step_started_is_alive(
    pooled_instance: dg.DagsterInstance, pool: str, dead_process: ProcessId
) -> None:
    """The step's process died but its dbt worker still holds the file: wait for the worker."""
    worker = ProcessId.of()  # this test process plays the surviving worker
    run_id = _holding_run(pooled_instance, pool, dead_process, dead_process, worker)

    (sentence,) = free_dead_holders(pooled_instance, pool, "the-claimant")

    assert sentence == (
        f"Pool {pool} stays held until pid {worker.pid} on this host exit; run {run_id} was "
        "still STARTED and is now marked failed"
    )
    assert free_dead_holders(pooled_instance, pool, "the-claimant") == [], "said once"

    assert _claimed(pooled_instance, pool) == [run_id]
    run = pooled_instance.get_run_by_id(run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.FAILURE, (
        "the run itself is dead: it is ended even though its slot is not free yet"
    )


@pytest.mark.parametrize(
    "holder",
    [
        ProcessId.of(),
        ProcessId("another-host.example", 12345, 1.0),
    ],
    ids=["live process on this host", "process on another host"],
)
def test_a_slot_held_by_a_live_or_unverifiable_process_is_kept(
    pooled_instance: dg.DagsterInstance, pool: str, holder: ProcessId
) -> None:
    run_id = _holding_run(pooled_instance, pool, holder, holder)

    assert free_dead_holders(pooled_instance, pool, "the-claimant") == []

    assert _claimed(pooled_instance, pool) == [run_id]
    run = pooled_instance.get_run_by_id(run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.STARTED


def test_a_reused_pid_does_not_keep_a_dead_holder_alive(
    pooled_instance: dg.DagsterInstance,
    pool: str,
) -> None:
    me = ProcessId.of()
    earlier = ProcessId(me.host, me.pid, me.started - 3600)  # same pid, another process
    run_id = _holding_run(pooled_instance, pool, earlier, earlier)

    assert len(free_dead_holders(pooled_instance, pool, "the-claimant")) == 1
    assert _claimed(pooled_instance, pool) == []
    assert pooled_instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE


def test_the_dead_runs_sensor_ends_only_runs_whose_process_is_gone(
    pooled_instance: dg.DagsterInstance, pool: str, dead_process: ProcessId
) -> None:
    dead = _holding_run(pooled_instance, pool, dead_process, dead_process)
    alive = pooled_instance.add_run(
        dg.DagsterRun(
            job_name="alive_job",
            status=dg.DagsterRunStatus.STARTED,
            tags={RUN_PROCESS_TAG: ProcessId.of().encode()},
        )
    ).run_id

    result = orch_dead_runs(dg.build_sensor_context(instance=pooled_instance))

    assert isinstance(result, dg.SkipReason)
    assert f"Run {dead} (holder_job) was STARTED" in (result.skip_message or "")
    assert pooled_instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
    assert pooled_instance.get_run_by_id(alive).status == dg.DagsterRunStatus.STARTED
    failure = pooled_instance.all_logs(dead, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert f"pid {dead_process.pid} on this host" in failure[0].message
