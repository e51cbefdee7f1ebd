"""Jobs of benchmarks/dask.py, in an importable module so Dask workers can reconstruct them."""

import time

from dagster import JobDefinition, OpDefinition, job, op

from orch_assets.definitions import defs
from orch_assets.executor import adaptive_executor

N_STEPS = 16
SLEEP_S = 1.0


def _sleeper(index: int) -> OpDefinition:
    @op(name=f"sleep_{index}")
    def _op() -> None:
        time.sleep(SLEEP_S)

    return _op


SLEEPERS = [_sleeper(i) for i in range(N_STEPS)]


@job(executor_def=adaptive_executor)
def sleep_job() -> None:
    for sleeper in SLEEPERS:
        sleeper()


def all_scenarios_job() -> JobDefinition:
    return defs.resolve_job_def("all_scenarios")
