"""The recommended thread configuration, and ``threads: auto``'s look-up of it.

Rule: among configurations whose peak RSS fits the memory budget (an unmeasured peak is taken to
fit, and the report says so), the fastest median wall wins; every configuration whose median is
within the tie tolerance of it counts as a tie, and a tie goes to the fewest threads.

Tie tolerance = max(``tie_tolerance``, measured noise). The floor, 5 %, is a third of the most
dbt threads gain on these 2-core machines (<= 15 %, FINDINGS.md). The measured noise is the median,
over configurations with at least two runs, of their half-range ((max - min) / 2 / median): on a
shared machine repeats spread by 10-30 %, and a configuration that is faster by less than that
has won a coin toss, not earned more threads.
"""

from __future__ import annotations

import math
import socket
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import psutil

from orch_assets.executor import run_cpu_limit
from orch_assets.executor.container import ContainerProbe
from orch_assets.runtime.evidence import MIN_RUNS_PER_CONFIGURATION
from orch_assets.runtime.store import DATABASE_NAME, RUNTIME_DIR_NAME, RuntimeTable
from orch_assets.runtime.summary import ConfigurationSummary

DEFAULT_TIE_TOLERANCE = 0.05
DEFAULT_MEMORY_BUDGET_FRACTION = 0.8
# A recommendation applies to a workload (employees × years) at most this factor away from the
# one it was measured on; beyond it, `threads: auto` falls back to its psutil default.
WORKLOAD_MATCH_FACTOR = 2.0
LOOKUP_LOCK_RETRY_SECONDS = 2.0


def measured_noise(summaries: Sequence[ConfigurationSummary]) -> float:
    """Median relative half-range of the repeats of each configuration (0.0 without repeats)."""
    spreads = [
        (s.max_wall_seconds - s.min_wall_seconds) / (2 * s.median_wall_seconds)
        for s in summaries
        if s.n_runs >= 2 and s.median_wall_seconds > 0
    ]
    return statistics.median(spreads) if spreads else 0.0


def machine_key(host: str, cpus: int | None) -> str:
    """The machine a recommendation is for: a 2-CPU pod on a 64-CPU node is not the node.

    ``cpus`` is what the run could use (its cgroup's CPU quota and affinity, run tag
    ``orch/cpus``); without it the host name alone.
    """
    return f"{host} ({cpus} CPUs)" if cpus else host


def this_machine() -> str:
    """:func:`machine_key` of the calling process."""
    return machine_key(socket.gethostname(), run_cpu_limit().cpus)


def default_memory_budget_bytes() -> int:
    """A share of the memory this process may use: the host's, or its cgroup's limit if lower."""
    total = psutil.virtual_memory().total
    limit = ContainerProbe().sample().memory
    if limit is not None:
        total = min(total, limit.limit_bytes)
    return int(total * DEFAULT_MEMORY_BUDGET_FRACTION)


@dataclass(frozen=True)
class Recommendation:
    chosen: ConfigurationSummary
    fastest: ConfigurationSummary
    tied: tuple[ConfigurationSummary, ...]
    over_budget: tuple[ConfigurationSummary, ...]
    unmeasured_memory: tuple[ConfigurationSummary, ...]
    memory_budget_bytes: int
    tie_tolerance: float
    noise: float

    def reason(self) -> str:
        parts = [
            f"fastest within the {self.memory_budget_bytes / 1024**3:.1f} GiB memory budget: "
            f"{self.fastest.configuration} ({self.fastest.median_wall_seconds:.2f} s median)"
        ]
        if self.chosen is not self.fastest:
            parts.append(
                f"{self.chosen.configuration} ({self.chosen.median_wall_seconds:.2f} s) is within "
                f"the {self.tie_tolerance:.0%} tie tolerance of it and uses fewer threads"
            )
        parts.append(
            f"tie tolerance {self.tie_tolerance:.0%} (floor and measured noise {self.noise:.0%}, "
            "the larger)"
        )
        if self.over_budget:
            parts.append("over budget: " + ", ".join(s.configuration for s in self.over_budget))
        if self.unmeasured_memory:
            parts.append(
                "peak RSS not measured (taken to fit): "
                + ", ".join(s.configuration for s in self.unmeasured_memory)
            )
        return "; ".join(parts)


def recommend(
    summaries: Sequence[ConfigurationSummary],
    memory_budget_bytes: int,
    tie_tolerance: float = DEFAULT_TIE_TOLERANCE,
) -> Recommendation | None:
    """The configuration to use (see the module docstring); ``None`` if none fits the budget.

    ``tie_tolerance`` is the floor of the tolerance; the repeats' measured noise can widen it.
    """
    over = tuple(
        s
        for s in summaries
        if s.peak_rss_bytes is not None and s.peak_rss_bytes > memory_budget_bytes
    )
    fitting = [s for s in summaries if s not in over]
    if not fitting:
        return None
    noise = measured_noise(summaries)
    tolerance = max(tie_tolerance, noise)
    fastest = min(fitting, key=lambda s: (s.median_wall_seconds, s.sort_key))
    limit = fastest.median_wall_seconds * (1 + tolerance)
    tied = tuple(s for s in fitting if s.median_wall_seconds <= limit)
    return Recommendation(
        chosen=min(tied, key=lambda s: s.sort_key),
        fastest=fastest,
        tied=tied,
        over_budget=over,
        unmeasured_memory=tuple(s for s in fitting if s.peak_rss_bytes is None),
        memory_budget_bytes=memory_budget_bytes,
        tie_tolerance=tolerance,
        noise=noise,
    )


def recommendation_record(
    recommendation: Recommendation, host: str, n_employees: int, n_years: int, source: str
) -> dict[str, Any]:
    """The row of the ``recommendations`` table for one workload on one host."""
    chosen = recommendation.chosen
    return {
        "host": host,
        "n_employees": n_employees,
        "n_years": n_years,
        "dbt_threads": chosen.dbt_threads,
        "executor_mode": chosen.executor_mode,
        "max_concurrent": chosen.max_concurrent,
        "configuration": chosen.configuration,
        "median_wall_seconds": chosen.median_wall_seconds,
        "speedup": chosen.speedup,
        "peak_rss_bytes": chosen.peak_rss_bytes,
        "memory_budget_bytes": recommendation.memory_budget_bytes,
        "n_runs": chosen.n_runs,
        "source": source,
        "decided_at": datetime.now(timezone.utc).replace(tzinfo=None),
    }


@dataclass(frozen=True)
class StoredRecommendation:
    """A recommendation found for a workload, with what ``threads: auto`` should log."""

    dbt_threads: int
    configuration: str
    n_employees: int
    n_years: int
    median_wall_seconds: float
    source: str

    def describe(self) -> str:
        return (
            f"recommendation for {self.n_employees} employees x {self.n_years} years on this "
            f"machine ({self.configuration}, {self.median_wall_seconds:.1f} s median, "
            f"{self.source})"
        )


def _table_for(instance_or_home: dg.DagsterInstance | str | Path) -> RuntimeTable:
    if isinstance(instance_or_home, dg.DagsterInstance):
        root = Path(instance_or_home.root_directory)
    else:
        root = Path(instance_or_home)
    return RuntimeTable(root / RUNTIME_DIR_NAME / DATABASE_NAME, LOOKUP_LOCK_RETRY_SECONDS)


def find_recommendation(
    instance_or_home: dg.DagsterInstance | str | Path,
    n_employees: int,
    n_years: int,
    host: str | None = None,
) -> StoredRecommendation | None:
    """The recommendation recorded on this machine for the nearest workload within a factor of 2.

    ``host`` defaults to :func:`this_machine` (host name and the CPUs this process may use).

    Workload size is employees × years; the exact workload wins, else the nearest in log scale.
    Only recommendations made on enough evidence count: the report stores one only then, and a
    stored one whose configuration had fewer than ``MIN_RUNS_PER_CONFIGURATION`` runs (recorded
    before that rule) is ignored. Never raises: a missing or busy database means no recommendation.
    """
    table = _table_for(instance_or_home)
    if not table.path.exists():
        return None
    try:
        candidates = table.recommendations(host or this_machine())
    except duckdb.Error:
        return None
    candidates = [r for r in candidates if (r["n_runs"] or 0) >= MIN_RUNS_PER_CONFIGURATION]
    size = max(1, n_employees * n_years)

    def distance(rec: dict[str, Any]) -> tuple[float, bool]:
        other = max(1, rec["n_employees"] * rec["n_years"])
        exact = rec["n_employees"] == n_employees and rec["n_years"] == n_years
        return (0.0 if exact else abs(math.log(size / other)), rec["n_years"] != n_years)

    near = [r for r in candidates if distance(r)[0] <= math.log(WORKLOAD_MATCH_FACTOR)]
    if not near:
        return None
    best = min(near, key=distance)
    return StoredRecommendation(
        dbt_threads=best["dbt_threads"],
        configuration=best["configuration"],
        n_employees=best["n_employees"],
        n_years=best["n_years"],
        median_wall_seconds=best["median_wall_seconds"],
        source=best["source"],
    )


def recommended_threads(
    instance_or_home: dg.DagsterInstance | str | Path, n_employees: int, n_years: int
) -> int | None:
    """dbt threads recommended for this workload on this machine, or ``None`` to use the default."""
    found = find_recommendation(instance_or_home, n_employees, n_years)
    return found.dbt_threads if found else None
