"""Jobs for thread mode's safety tests: Python logging, failing writes and IO managers, crashes."""

import logging
import os
import time
from pathlib import Path

from dagster import (
    InputContext,
    IOManager,
    OpExecutionContext,
    OutputContext,
    io_manager,
    job,
    op,
)

from orch_assets.executor import ISOLATE_TAG, adaptive_executor

MARKER_ENV = "ORCH_TEST_MARKER"
"""File an op creates once it is running (the SIGTERM test waits for it)."""


@op
def log_a(context: OpExecutionContext) -> int:
    context.log.info("a: context log")
    logging.getLogger().info("a: root logger")
    return 1


@op
def log_b(context: OpExecutionContext, value: int) -> int:
    context.log.debug("b: context log")
    logging.getLogger("user.module").info("b: a child of the root logger")
    return value + 1


@op
def log_c(context: OpExecutionContext, value: int) -> int:
    logging.getLogger().debug("c: root logger at debug")
    context.log.warning("c: context log")
    return value + 1


@job(executor_def=adaptive_executor)
def three_op_logging_job() -> None:
    log_c(log_b(log_a()))


@op
def log_until_stopped(context: OpExecutionContext) -> None:
    Path(os.environ[MARKER_ENV]).touch()
    while True:
        context.log.info("still running")
        logging.getLogger().info("still running, root logger")
        time.sleep(0.01)


@job(executor_def=adaptive_executor)
def endless_logging_job() -> None:
    log_until_stopped()


class _FailingIOManager(IOManager):
    def handle_output(self, context: OutputContext, obj: object) -> None:
        raise AssertionError("never reached")

    def load_input(self, context: InputContext) -> object:
        raise AssertionError("never reached")


@io_manager
def failing_io_manager(_init_context: object) -> _FailingIOManager:
    raise ValueError("the IO manager cannot start")


@op
def returns_one() -> int:
    return 1


@job(executor_def=adaptive_executor, resource_defs={"io_manager": failing_io_manager})
def failing_io_manager_job() -> None:
    returns_one()


@op(tags={ISOLATE_TAG: "process"})
def exits_hard() -> int:
    os._exit(1)


@op
def survives() -> int:
    return 2


@op
def after_exit(value: int) -> int:
    return value


@job(executor_def=adaptive_executor)
def isolated_crash_job() -> None:
    after_exit(exits_hard())
    survives()
