"""Jobs run inside real cgroups by ``run_in_cgroup``; module-level for ``reconstructable``."""

import mmap
import time

from dagster import OpDefinition, OpExecutionContext, Output, job, op

from orch_assets.config import resolve_threads_here
from orch_assets.executor import adaptive_executor, run_cpu_limit

HOLD_BYTES = 450 * 1024**2
HOLD_SECONDS = 2.0


def _holder(name: str) -> OpDefinition:
    @op(name=name)
    def _op() -> None:
        """Hold ~450 MB of touched anonymous memory for 2 s, as a pandas step might."""
        block = mmap.mmap(-1, HOLD_BYTES)
        try:
            block[::4096] = b"\x01" * len(range(0, HOLD_BYTES, 4096))
            time.sleep(HOLD_SECONDS)
        finally:
            block.close()

    return _op


HOLDERS = [_holder(f"hold_{i}") for i in range(6)]


@job(executor_def=adaptive_executor)
def six_holders_job() -> None:
    for holder in HOLDERS:
        holder()


@op
def report_cpus(context: OpExecutionContext) -> Output[int]:
    """What ``auto`` means in this step's process: dbt threads and the step's own CPU reading."""
    threads, source = resolve_threads_here("auto", {})
    cpu = run_cpu_limit()
    return Output(
        threads,
        metadata={"dbt_threads": threads, "threads_source": source, "step_cpus": cpu.cpus},
    )


@job(executor_def=adaptive_executor)
def cpu_report_job() -> None:
    report_cpus()
