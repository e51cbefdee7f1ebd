"""Jobs for the parity tests (resources, dynamic outputs, logging, forks); module-level so
``reconstructable`` can load them in worker processes. Ops and resources count what happened in
files under ``ORCH_TEST_WORK_DIR`` because in process mode they run in other processes.
"""

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from dagster import (
    DynamicOut,
    DynamicOutput,
    InitResourceContext,
    OpExecutionContext,
    RetryPolicy,
    in_process_executor,
    job,
    op,
    resource,
)

from orch_assets.executor import adaptive_executor
from tests.test_executor.jobs import WORK_DIR_ENV


def _bump(name: str) -> int:
    """Add one to the counter file ``name`` and return the new value (one writer at a time)."""
    path = Path(os.environ[WORK_DIR_ENV]) / name
    value = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(value))
    return value


def count(name: str) -> int:
    path = Path(os.environ[WORK_DIR_ENV]) / name
    return int(path.read_text()) if path.exists() else 0


@resource
def fails_first_init(_: InitResourceContext) -> Iterator[str]:
    """Fails its first initialisation in the work dir, then works; counts inits and teardowns."""
    if _bump("inits") == 1:
        raise ConnectionError("database not reachable yet")
    yield "connection"
    _bump("teardowns")


@resource
def always_fails(_: InitResourceContext) -> str:
    _bump("inits")
    raise ConnectionError("database is down")


@resource
def counted(_: InitResourceContext) -> Iterator[str]:
    _bump("inits")
    yield "shared"
    _bump("teardowns")


@op(required_resource_keys={"db"}, retry_policy=RetryPolicy(max_retries=2))
def uses_db(context: OpExecutionContext) -> str:
    return str(context.resources.db)


@op(required_resource_keys={"db"})
def uses_db_without_policy(context: OpExecutionContext) -> str:
    return str(context.resources.db)


@op
def needs_nothing() -> int:
    return 1


@job(executor_def=adaptive_executor, resource_defs={"db": fails_first_init})
def resource_fails_once_job() -> None:
    uses_db()


@job(executor_def=adaptive_executor, resource_defs={"db": always_fails})
def broken_resource_job() -> None:
    uses_db_without_policy()
    needs_nothing()


@op(required_resource_keys={"db"})
def read_db(context: OpExecutionContext, value: int) -> str:
    return f"{context.resources.db}-{value}"


@op(out=DynamicOut(int))
def fan_out() -> Iterator[DynamicOutput[int]]:
    for i in range(4):
        yield DynamicOutput(i, mapping_key=str(i))


@op
def gather(values: list[str]) -> int:
    return len(values)


@job(executor_def=adaptive_executor, resource_defs={"db": counted})
def shared_resource_job() -> None:
    gather(fan_out().map(read_db).collect())


# -- process-global state ---------------------------------------------------------------------


@op
def logs_everywhere(context: OpExecutionContext) -> int:
    context.log.info("context log")
    logging.getLogger("orch_test_managed").warning("managed python log")
    print("stdout line")
    return 1


@op
def adds_one(value: int) -> int:
    return value + 1


@job(executor_def=adaptive_executor)
def small_job() -> None:
    adds_one(adds_one(logs_everywhere()))


@job(executor_def=in_process_executor)
def stock_small_job() -> None:
    """The same job on Dagster's in-process executor: what Dagster itself changes on first use."""
    adds_one(adds_one(logs_everywhere()))
