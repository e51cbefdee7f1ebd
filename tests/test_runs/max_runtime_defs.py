"""A code location for the max_runtime tests: one 30 s step per executor."""

import os
import time
from pathlib import Path

import dagster as dg

from orch_assets.executor import adaptive_executor


@dg.op(config_schema={"pid_file": str})
def thirty_seconds(context: dg.OpExecutionContext) -> None:
    """Records the process it runs in, then works for 30 s in short sleeps."""
    Path(context.op_config["pid_file"]).write_text(str(os.getpid()))
    for _ in range(300):
        time.sleep(0.1)


@dg.job(executor_def=adaptive_executor)
def adaptive_job() -> None:
    thirty_seconds()


@dg.job(executor_def=dg.multiprocess_executor)
def multiprocess_job() -> None:
    thirty_seconds()


defs = dg.Definitions(jobs=[adaptive_job, multiprocess_job])
