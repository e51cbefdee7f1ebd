"""The adaptive executor: parallel steps under a live psutil cap, with class limits,
fail-fast and timeouts. This subpackage imports nothing from the project's assets or dbt code.
"""

from orch_assets.executor.config import AdaptiveConfigError, AdaptiveSettings
from orch_assets.executor.container import CpuLimit, run_cpu_limit
from orch_assets.executor.definition import adaptive_executor
from orch_assets.executor.engine import AdaptiveExecutor
from orch_assets.executor.errors import FailFastError, StepCancelledError, StepTimeoutError
from orch_assets.executor.live import LIVE_CAP_ENV, LIVE_CAP_RUN_ID_ENV, live_cap
from orch_assets.executor.ownership import at_step_end, register_subprocess
from orch_assets.executor.run_instance import RUN_PROCESS_ENV, orchestrated_here, run_instance
from orch_assets.executor.run_tags import (
    CPUS_TAG,
    MAX_CONCURRENT_TAG,
    MEAN_CPU_TAG,
    MODE_TAG,
    PEAK_CONCURRENCY_TAG,
    PEAK_RSS_TAG,
    RUN_PROCESS_TAG,
)
from orch_assets.executor.steps import CLASS_TAG, ISOLATE_TAG, TIMEOUT_TAG

__all__ = [
    "CLASS_TAG",
    "CPUS_TAG",
    "ISOLATE_TAG",
    "LIVE_CAP_ENV",
    "LIVE_CAP_RUN_ID_ENV",
    "MAX_CONCURRENT_TAG",
    "MEAN_CPU_TAG",
    "MODE_TAG",
    "PEAK_CONCURRENCY_TAG",
    "PEAK_RSS_TAG",
    "RUN_PROCESS_ENV",
    "RUN_PROCESS_TAG",
    "TIMEOUT_TAG",
    "AdaptiveConfigError",
    "AdaptiveExecutor",
    "AdaptiveSettings",
    "CpuLimit",
    "FailFastError",
    "StepCancelledError",
    "StepTimeoutError",
    "adaptive_executor",
    "at_step_end",
    "live_cap",
    "orchestrated_here",
    "register_subprocess",
    "run_cpu_limit",
    "run_instance",
]
