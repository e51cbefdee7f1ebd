"""The ``adaptive`` executor definition."""

from collections.abc import Mapping, Sequence

from dagster import (
    ExecutorRequirement,
    InitExecutorContext,
    executor,
    multiple_process_executor_requirements,
)

from orch_assets.executor.config import ADAPTIVE_CONFIG_SCHEMA, settings_from_config
from orch_assets.executor.engine import AdaptiveExecutor


def adaptive_requirements(config: Mapping[str, object]) -> Sequence[ExecutorRequirement]:
    """Process and dask modes need what the multiprocess executor needs (a reconstructable job,
    a persistent instance, outputs stored between steps); threads share the run process."""
    if config.get("mode") in ("process", "dask"):
        return multiple_process_executor_requirements()
    return []


@executor(name="adaptive", config_schema=ADAPTIVE_CONFIG_SCHEMA, requirements=adaptive_requirements)
def adaptive_executor(init_context: InitExecutorContext) -> AdaptiveExecutor:
    """Run ready steps concurrently under a live, psutil-driven cap.

    ``mode: thread`` (default) runs steps in threads of the run process, ``process`` in reused
    worker processes (CPU-bound Python), ``sequential`` one at a time, ``dask`` on the workers
    of a Dask cluster (the cap then follows the workers' memory). The cap is
    ``max_concurrent`` lowered under memory pressure or CPU saturation; execution classes
    (op or asset tag ``orch/execution_class``), ``tag_concurrency_limits`` and instance pools
    limit steps further. Every value is checked at launch.

    .. code-block:: yaml

        execution:
          config:
            mode: thread            # thread | process | sequential | dask
            max_concurrent: auto    # 1-16 or auto; unset: env ORCH_MAX_CONCURRENT, else auto
            dask:                   # mode dask only: one of
              address: tcp://scheduler-host:8786  # an existing cluster, or
              # local: {n_workers: 2, threads_per_worker: 1, memory_limit: 4GB}
            memory_pause_percent: 80
            memory_resume_percent: 70
            memory_pressure_pause: 10  # PSI some avg10 %; null: ignore pressure
            memory_per_step_gb: 1.5 # optional
            cpu_saturation_percent: 95  # optional
            class_limits:
              sequential: 1
              conditional: 2
              parallel_safe: null   # up to the live cap
            tag_concurrency_limits:
              - key: database
                value: duckdb
                limit: 1
            fail_fast: false
            step_timeout_s: 3600    # optional; op tag orch/step_timeout_s overrides
            sample_interval_s: 0.5
            retries:
              enabled: {}

    Steps can read the live cap with :func:`orch_assets.executor.live_cap` to size their own
    inner parallelism.
    """
    return AdaptiveExecutor(settings_from_config(init_context.executor_config))
