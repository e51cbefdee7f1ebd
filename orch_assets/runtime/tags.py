"""Run tags the runtime history reads: the contract with the simulation step and the executor.

The simulation step writes the workload tags and ``orch/fingerprint``; the adaptive executor
writes the thread configuration at run start and the resource metrics at run end. Any of them can
be missing (another job, the default executor, a run that failed early): readers get ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping

DBT_THREADS = "orch/dbt_threads"
# Proposed for `threads: auto`: where the thread count came from (recorded when present).
DBT_THREADS_SOURCE = "orch/dbt_threads_source"
SIMULATION = "orch/simulation"
N_EMPLOYEES = "orch/n_employees"
YEARS = "orch/years"
FINGERPRINT = "orch/fingerprint"
# Optional: a run may state the version of the code it ran (else read from the definitions).
CODE_VERSION = "orch/code_version"

MODE = "orch/mode"
MAX_CONCURRENT = "orch/max_concurrent"
PEAK_RSS_BYTES = "orch/peak_rss_bytes"
MEAN_CPU_PERCENT = "orch/mean_cpu_percent"
PEAK_CONCURRENCY = "orch/peak_concurrency"
# The CPUs the run process could use (its cgroup's quota and affinity, not the host's count).
CPUS = "orch/cpus"

# Written by this package.
METRICS_SOURCE = "orch/metrics_source"
SWEEP_ID = "orch/sweep"
SWEEP_CONFIGURATION = "orch/sweep_configuration"

METRIC_TAGS = (PEAK_RSS_BYTES, MEAN_CPU_PERCENT)


def with_simulation_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """``tags`` plus, for a run of several simulations (``all_scenarios`` tags them
    ``orch/dbt_threads/<simulation>``), each such key's value when all its simulations agree."""
    merged = dict(tags)
    for key in (DBT_THREADS, DBT_THREADS_SOURCE, N_EMPLOYEES, YEARS):
        values = {v for k, v in tags.items() if k.startswith(f"{key}/")}
        if key not in merged and len(values) == 1:
            merged[key] = values.pop()
    return merged


def tag_int(tags: Mapping[str, str], key: str) -> int | None:
    """The tag as an int, or ``None`` when it is missing or not a number."""
    try:
        return int(float(tags[key]))
    except (KeyError, TypeError, ValueError):
        return None


def tag_float(tags: Mapping[str, str], key: str) -> float | None:
    try:
        return float(tags[key])
    except (KeyError, TypeError, ValueError):
        return None


def tag_years(tags: Mapping[str, str]) -> tuple[int, int] | None:
    """``orch/years`` ("2025-2029") as ``(2025, 2029)``."""
    start, _, end = tags.get(YEARS, "").partition("-")
    try:
        return int(start), int(end)
    except ValueError:
        return None
