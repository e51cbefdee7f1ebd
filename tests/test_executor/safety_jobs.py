"""Jobs for thread mode's safety tests: Python logging, failing writes and IO managers, crashes."""

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

from dagster import (
    DagsterInstance,
    EventLogEntry,
    InputContext,
    IOManager,
    OpExecutionContext,
    OutputContext,
    io_manager,
    job,
    op,
)
from dagster._core.events import DagsterEventBatchMetadata
from dagster._core.instance.ref import InstanceRef
from dagster._serdes import ConfigurableClassData

from orch_assets.executor import ISOLATE_TAG, RUN_PROCESS_TAG, adaptive_executor

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


class UserLogsFailInstance(DagsterInstance):
    """An instance (``instance_class`` in dagster.yaml, so step processes use it too) whose
    ``handle_new_event`` fails for every user log message, as Dagster's own
    ``test_failure_logging`` makes it fail."""

    @classmethod
    def config_schema(cls) -> dict[str, object]:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> Mapping[str, ConfigurableClassData | None]:
        return InstanceRef.config_defaults(base_dir)

    def handle_new_event(
        self, event: EventLogEntry, *, batch_metadata: DagsterEventBatchMetadata | None = None
    ) -> None:
        if event.dagster_event is None:
            raise RuntimeError("failed writing a user log message")
        super().handle_new_event(event, batch_metadata=batch_metadata)


@op
def logs_twice(context: OpExecutionContext) -> int:
    context.log.info("first user message")
    context.log.warning("second user message")
    return 1


@op
def logs_once(context: OpExecutionContext, value: int) -> int:
    context.log.info("third user message")
    return value


@job(executor_def=adaptive_executor)
def user_log_job() -> None:
    logs_once(logs_twice())


@op
def exits_hard_in_a_thread(context: OpExecutionContext) -> None:
    """Waits (up to 5 s) for the executor's start tags, written behind, then ends the process."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        dagster_run = context.instance.get_run_by_id(context.run_id)
        if dagster_run is not None and RUN_PROCESS_TAG in dagster_run.tags:
            break
        time.sleep(0.05)
    Path(os.environ[MARKER_ENV]).touch()
    os._exit(1)


@job(executor_def=adaptive_executor)
def unisolated_crash_job() -> None:
    exits_hard_in_a_thread()
