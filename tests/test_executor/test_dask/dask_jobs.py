"""Jobs only the dask-mode tests use; module-level so Dask workers can reconstruct them."""

import os
import signal
import time

from dagster import In, Nothing, OpDefinition, OpExecutionContext, job, op

from orch_assets.executor import adaptive_executor, run_instance
from orch_assets.executor.dask_step import WORKER_PID_ENV


@op
def kill_own_dask_worker() -> None:
    """SIGKILL the Dask worker process this step runs under, then keep going for a while."""
    time.sleep(0.3)
    os.kill(int(os.environ[WORKER_PID_ENV]), signal.SIGKILL)
    time.sleep(20)


@op(ins={"after": In(Nothing)})
def never_runs() -> None:
    return None


@job(executor_def=adaptive_executor)
def worker_kill_job() -> None:
    never_runs(kill_own_dask_worker())


def _nap(
    name: str, tags: dict[str, str] | None = None, pool: str | None = None, seconds: float = 0.3
) -> OpDefinition:
    @op(name=name, tags=tags, pool=pool)
    def _op() -> None:
        time.sleep(seconds)

    return _op


NAPS = [_nap(f"short_nap_{i}") for i in range(3)]


@job(executor_def=adaptive_executor)
def three_naps_job() -> None:
    for nap in NAPS:
        nap()


SECOND_NAPS = [_nap(f"nap_{i:02}", seconds=1.0) for i in range(16)]


@job(executor_def=adaptive_executor)
def sixteen_naps_job() -> None:
    """16 independent one-second steps."""
    for nap in SECOND_NAPS:
        nap()


LIMIT_POOL = "orch_dask_test_pool"
FIRST = {"dagster/priority": "1"}
"""The limited steps are asked for first, so the second of each is held back, not just late."""
LIMITED_NAPS = [
    *(_nap(f"duck_{i}", tags={"database": "duckdb", **FIRST}) for i in range(2)),
    *(_nap(f"pooled_{i}", tags=FIRST, pool=LIMIT_POOL) for i in range(2)),
    *(_nap(f"free_{i}") for i in range(2)),
]


@job(executor_def=adaptive_executor)
def limited_naps_job() -> None:
    """Two steps under a tag limit, two in an instance pool, two free."""
    for nap in LIMITED_NAPS:
        nap()


CLAIM_POOL = "orch_dask_claim_pool"


@op(config_schema={"hold_s": float})
def claim_pool_and_hold(context: OpExecutionContext) -> None:
    """Claim a slot of the run's instance pool from the worker, then hold it (never free it)."""
    storage = run_instance(context).event_log_storage
    step_key = context.get_step_execution_context().step.key
    claimed = storage.claim_concurrency_slot(CLAIM_POOL, context.run_id, step_key).is_claimed
    holders = storage.get_concurrency_info(CLAIM_POOL).claimed_slots
    context.log.info(f"claimed {claimed}; holders {[(s.run_id, s.step_key) for s in holders]}")
    time.sleep(context.op_config["hold_s"])


@job(executor_def=adaptive_executor)
def claim_pool_job() -> None:
    claim_pool_and_hold()
