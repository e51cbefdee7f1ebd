"""Config schema of the adaptive executor and its validation into :class:`AdaptiveSettings`.

Dagster's config system checks types but not ranges, and cannot say "an int or the string
'auto'", so :func:`settings_from_config` checks every value when the executor is created at run
launch and raises :class:`AdaptiveConfigError` naming the field and the allowed range. The
``ORCH_MAX_CONCURRENT`` environment variable is read there too, never at import.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dagster import DagsterError, Enum, EnumValue, Field, Noneable, Permissive

from orch_assets.executor._internals import (
    RetryMode,
    StepDependencyConfig,
    get_retries_config,
    get_step_dependency_config_field,
    get_tag_concurrency_limits_config,
)
from orch_assets.executor.container import CpuLimit, run_cpu_limit
from orch_assets.executor.dask_config import (
    DASK_CONFIG_FIELD,
    DaskConfigError,
    DaskSettings,
    dask_settings_from_config,
)

MAX_CONCURRENT_ENV = "ORCH_MAX_CONCURRENT"
MAX_CONCURRENT_LIMIT = 16
MODES = ("thread", "process", "sequential", "dask")
# PSI "some avg10" %, measured with benchmarks/memory_pressure.py (600 MB cgroup, loaded
# 2-core machine): 0.00 with memory to spare, also machine-wide at load average 12; once the
# page cache must be reclaimed on every pass 4 -> 10.5 -> 16 within 6 s (PSI updates every 2 s).
# 10 is "some task stalled 1 s of the last 10 s": past the noise, before the OOM killer.
DEFAULT_MEMORY_PRESSURE_PAUSE = 10.0
DEFAULT_CLASS_LIMITS: Mapping[str, int | None] = {
    "sequential": 1,
    "conditional": 2,
    "parallel_safe": None,
}


class AdaptiveConfigError(DagsterError):
    """An executor config value is outside its allowed range."""


@dataclass(frozen=True)
class AdaptiveSettings:
    """Validated executor configuration; ``max_concurrent`` is already resolved to an int."""

    mode: str
    max_concurrent: int
    max_concurrent_source: str
    memory_pause_percent: float
    memory_resume_percent: float
    memory_per_step_gb: float | None
    cpu_saturation_percent: float | None
    memory_pressure_pause: float | None
    class_limits: Mapping[str, int | None]
    tag_concurrency_limits: list[dict[str, Any]]
    fail_fast: bool
    step_timeout_s: float | None
    retries: RetryMode
    step_dependency_config: StepDependencyConfig
    sample_interval_s: float
    start_method: str
    dask: DaskSettings | None = None


def _class_limits_field() -> Field:
    return Field(
        Permissive(
            {
                "sequential": Field(int, default_value=1, description="At most this many at once."),
                "conditional": Field(
                    int, default_value=2, description="At most this many at once."
                ),
                "parallel_safe": Field(
                    Noneable(int), default_value=None, description="null: up to the live cap."
                ),
            }
        ),
        is_required=False,
        default_value={},
        description=(
            "Per execution class (op or asset tag `orch/execution_class`) the most steps of that "
            "class running at once; null means up to the live cap. Extra keys define more classes."
        ),
    )


ADAPTIVE_CONFIG_SCHEMA: dict[str, Field] = {
    "mode": Field(
        Enum("AdaptiveExecutorMode", [EnumValue(m) for m in MODES]),
        default_value="thread",
        description="thread: steps in threads of the run process; process: in reused child "
        "processes (CPU-bound Python); sequential: one step at a time in the run process; "
        "dask: on the workers of a Dask cluster (see the dask block).",
    ),
    "max_concurrent": Field(
        Noneable(Any),
        default_value=None,
        description=f"Most steps at once: 1-{MAX_CONCURRENT_LIMIT} or 'auto'. Unset: env "
        f"{MAX_CONCURRENT_ENV} if set, else 'auto' (4 x CPUs in thread mode, CPUs in process "
        "mode).",
    ),
    "memory_pause_percent": Field(
        float, default_value=80.0, description="System memory used % at which launching pauses."
    ),
    "memory_resume_percent": Field(
        float, default_value=70.0, description="Used % below which launching resumes (< pause)."
    ),
    "memory_per_step_gb": Field(
        Noneable(float), default_value=None, description="Memory budget per running step."
    ),
    "memory_pressure_pause": Field(
        Noneable(float),
        default_value=DEFAULT_MEMORY_PRESSURE_PAUSE,
        description="Memory pressure (PSI 'some avg10' %, of the run's cgroup or the system) at "
        "which the cap drops to 1; null: ignore pressure.",
    ),
    "cpu_saturation_percent": Field(
        Noneable(float),
        default_value=None,
        description="System CPU % at which the cap is limited to the number of CPUs.",
    ),
    "class_limits": _class_limits_field(),
    "tag_concurrency_limits": get_tag_concurrency_limits_config(),
    "fail_fast": Field(
        bool, default_value=False, description="Start no step after the first failure."
    ),
    "step_timeout_s": Field(
        Noneable(float),
        default_value=None,
        description="Fail a step running longer than this; op tag orch/step_timeout_s overrides.",
    ),
    "retries": get_retries_config(),
    "step_dependency_config": get_step_dependency_config_field(),
    "sample_interval_s": Field(
        float, default_value=0.5, description="Seconds between psutil readings (0.05-10)."
    ),
    "start_method": Field(
        Enum("AdaptiveStartMethod", [EnumValue("forkserver"), EnumValue("spawn")]),
        default_value="forkserver",
        description="How process mode starts its worker processes.",
    ),
    "dask": DASK_CONFIG_FIELD,
}


def _fail(field: str, allowed: str, value: object) -> AdaptiveConfigError:
    return AdaptiveConfigError(
        f"Invalid adaptive executor config: '{field}' must be {allowed}, got {value!r}."
    )


def _number(config: Mapping[str, Any], field: str, low: float, high: float) -> float:
    value = config[field]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _fail(field, f"a number from {low:g} to {high:g}", value)
    return float(value)


def _optional_number(
    config: Mapping[str, Any], field: str, low: float, high: float
) -> float | None:
    return None if config.get(field) is None else _number(config, field, low, high)


def auto_max_concurrent(mode: str, cpu: CpuLimit | None = None) -> int:
    """Threads mostly wait on I/O or subprocesses, processes burn a CPU each.

    CPUs are those this process may use (:func:`run_cpu_limit`), not the host's.
    """
    cpus = (cpu or run_cpu_limit()).cpus
    per_mode = {
        "thread": 4 * cpus,
        "process": cpus,
        "sequential": 1,
        "dask": MAX_CONCURRENT_LIMIT,  # further limited by the cluster's worker threads
    }
    return max(1, min(MAX_CONCURRENT_LIMIT, per_mode[mode]))


def resolve_max_concurrent(value: object, mode: str) -> tuple[int, str]:
    """Return the cap and where it came from: config, the environment, or auto."""
    source = "config"
    if value is None:
        env_value = os.environ.get(MAX_CONCURRENT_ENV, "").strip()
        value, source = (env_value, f"env {MAX_CONCURRENT_ENV}") if env_value else ("auto", "auto")
    field = (
        "max_concurrent" if source == "config" else f"max_concurrent (from {MAX_CONCURRENT_ENV})"
    )
    if isinstance(value, str) and value.strip().lower() == "auto":
        cpu = run_cpu_limit()
        label = "auto" if source != "config" else "config auto"
        return auto_max_concurrent(mode, cpu), f"{label}, {cpu.describe()}"
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, f"an integer from 1 to {MAX_CONCURRENT_LIMIT} or 'auto'", value)
    if not 1 <= value <= MAX_CONCURRENT_LIMIT:
        raise _fail(field, f"an integer from 1 to {MAX_CONCURRENT_LIMIT} or 'auto'", value)
    return value, source


def _class_limits(raw: Mapping[str, Any] | None) -> dict[str, int | None]:
    limits: dict[str, int | None] = dict(DEFAULT_CLASS_LIMITS)
    for name, value in (raw or {}).items():
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise _fail(
                f"class_limits.{name}", "an integer >= 1 or null (up to the live cap)", value
            )
        limits[name] = value
    return limits


def parse_class_limits(raw: Mapping[str, Any] | None) -> dict[str, int | None]:
    """The defaults overlaid with ``raw`` (a run's ``class_limits``), validated."""
    return _class_limits(raw)


def settings_from_config(config: Mapping[str, Any]) -> AdaptiveSettings:
    """Validate executor config (defaults already applied by Dagster) into settings."""
    mode = config.get("mode", "thread")
    max_concurrent, source = resolve_max_concurrent(config.get("max_concurrent"), mode)
    if mode == "sequential":
        max_concurrent = 1
    pause = _number(config, "memory_pause_percent", 1, 100)
    resume = _number(config, "memory_resume_percent", 0, 100)
    if resume >= pause:
        raise _fail("memory_resume_percent", f"below memory_pause_percent ({pause:g})", resume)
    timeout = _optional_number(config, "step_timeout_s", 0.1, 7 * 24 * 3600)
    return AdaptiveSettings(
        mode=mode,
        max_concurrent=max_concurrent,
        max_concurrent_source=source,
        memory_pause_percent=pause,
        memory_resume_percent=resume,
        memory_per_step_gb=_optional_number(config, "memory_per_step_gb", 0.01, 4096),
        cpu_saturation_percent=_optional_number(config, "cpu_saturation_percent", 1, 100),
        memory_pressure_pause=_optional_number(config, "memory_pressure_pause", 0.01, 100),
        class_limits=_class_limits(config.get("class_limits")),
        tag_concurrency_limits=list(config.get("tag_concurrency_limits") or []),
        fail_fast=bool(config.get("fail_fast", False)),
        step_timeout_s=timeout,
        retries=RetryMode.from_config(config.get("retries") or {"enabled": {}})
        or RetryMode.ENABLED,
        step_dependency_config=StepDependencyConfig.from_config(
            config.get("step_dependency_config")
        ),
        sample_interval_s=_number(config, "sample_interval_s", 0.05, 10),
        start_method=config.get("start_method", "forkserver"),
        dask=_dask_settings(config) if mode == "dask" else None,
    )


def _dask_settings(config: Mapping[str, Any]) -> DaskSettings:
    try:
        return dask_settings_from_config(config.get("dask"))
    except DaskConfigError as error:
        raise AdaptiveConfigError(str(error)) from None
