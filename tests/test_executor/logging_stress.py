"""Thread-mode runs with the root logger managed by Dagster, in a child process of a test.

``python -m tests.test_executor.logging_stress stress RUNS PER_RUN_TIMEOUT_S BUDGET_S`` alternates the
instance's ``python_log_level`` between DEBUG and INFO, with SQLAlchemy's engine logger at INFO,
and prints ``ok <level> <seconds>`` per successful run. A run that does not end within
``PER_RUN_TIMEOUT_S`` makes the process print every thread's stack and exit with code 1 (the
hang this guards against never ends on its own). It stops early, printing ``budget``, when the
next run would likely overrun ``BUDGET_S``.

``python -m tests.test_executor.logging_stress endless`` runs ``endless_logging_job`` on the
instance of ``DAGSTER_HOME`` (its test sends SIGTERM mid-step); ``... crash`` runs
``unisolated_crash_job`` there (its op ends this process).
"""

import faulthandler
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack

from dagster import (
    DagsterInstance,
    JobDefinition,
    execute_job,
    instance_for_test,
    reconstructable,
)

from tests.test_executor.safety_jobs import (
    endless_logging_job,
    three_op_logging_job,
    unisolated_crash_job,
)

LEVELS = ("DEBUG", "INFO")
NO_COMPUTE_LOGS = {
    "module": "dagster._core.storage.noop_compute_log_manager",
    "class": "NoOpComputeLogManager",
}


def _instances(stack: ExitStack) -> Iterator[tuple[str, DagsterInstance]]:
    instances = {
        level: stack.enter_context(
            instance_for_test(
                overrides={
                    "compute_logs": NO_COMPUTE_LOGS,
                    "python_logs": {"managed_python_loggers": ["root"], "python_log_level": level},
                }
            )
        )
        for level in LEVELS
    }
    while True:
        for level in LEVELS:
            yield level, instances[level]


def stress(runs: int, per_run_timeout_s: float, budget_s: float) -> int:
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    started = time.monotonic()
    slowest = 0.0
    with ExitStack() as stack:
        instances = _instances(stack)
        for _ in range(runs):
            if time.monotonic() - started + 2 * slowest > budget_s:
                print("budget", flush=True)
                return 0
            level, instance = next(instances)
            faulthandler.dump_traceback_later(per_run_timeout_s, exit=True)
            began = time.monotonic()
            result = execute_job(
                reconstructable(three_op_logging_job),
                instance=instance,
                run_config={"execution": {"config": {"mode": "thread"}}},
            )
            faulthandler.cancel_dump_traceback_later()
            elapsed = time.monotonic() - began
            slowest = max(slowest, elapsed)
            if not result.success:
                print(f"failed {level} {result.run_id}", flush=True)
                return 2
            print(f"ok {level} {elapsed:.2f}", flush=True)
    return 0


def in_home(target: JobDefinition) -> int:
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    with DagsterInstance.get() as instance:
        execute_job(
            reconstructable(target),
            instance=instance,
            run_config={"execution": {"config": {"mode": "thread"}}},
        )
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "stress":
        sys.exit(stress(int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])))
    sys.exit(in_home(endless_logging_job if sys.argv[1] == "endless" else unisolated_crash_job))
