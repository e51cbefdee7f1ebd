"""The job whose run process a dask test SIGKILLs, alone in its module for `dagster job execute -m`."""

import os
import time
from pathlib import Path

from dagster import OpExecutionContext, job, op

from orch_assets.executor import adaptive_executor
from orch_assets.simulation.pool import hold_pool

DATABASE_POOL = "duckdb/orch_dask_kill_test"
TICK_CONFIG = {"dir": str, "seconds": float}


def _tick(context: OpExecutionContext, name: str) -> None:
    """Record this step's pid, then append a tick to a file every 0.1 s for ``seconds``."""
    folder = Path(context.op_config["dir"])
    (folder / f"{name}.pid").write_text(str(os.getpid()))
    deadline = time.monotonic() + context.op_config["seconds"]
    with (folder / f"{name}.ticks").open("a") as ticks:
        while time.monotonic() < deadline:
            ticks.write(".")
            ticks.flush()
            time.sleep(0.1)


@op(config_schema=TICK_CONFIG)
def write_database(context: OpExecutionContext) -> None:
    """Hold a database's pool (claimed through the run process, as simulation steps do)."""
    with hold_pool(context, DATABASE_POOL):
        _tick(context, "write_database")


@op(config_schema=TICK_CONFIG)
def keep_ticking(context: OpExecutionContext) -> None:
    _tick(context, "keep_ticking")


@job(executor_def=adaptive_executor)
def ticking_job() -> None:
    """Two long steps; one holds a database pool. The run process of one is SIGKILLed."""
    write_database()
    keep_ticking()
