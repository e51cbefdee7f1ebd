"""Per thread configuration: median wall, speedup against threads=1, efficiency, peak memory."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from orch_assets.runtime.store import RuntimeRow


@dataclass(frozen=True)
class ConfigurationSummary:
    """The successful runs of one thread configuration over the same inputs."""

    configuration: str
    executor_mode: str | None
    max_concurrent: int | None
    dbt_threads: int | None
    n_runs: int
    median_wall_seconds: float
    min_wall_seconds: float
    max_wall_seconds: float
    median_parallel_efficiency: float | None
    peak_rss_bytes: int | None
    median_cpu_percent: float | None
    fingerprints: frozenset[str]
    run_ids: tuple[str, ...]
    speedup: float | None = None

    @property
    def sort_key(self) -> tuple[int, str, int]:
        """Fewer dbt threads first, then fewer executor slots."""
        return (self.dbt_threads or 0, self.executor_mode or "", self.max_concurrent or 0)

    @property
    def speedup_per_thread(self) -> float | None:
        """Speedup ÷ dbt threads: 1.0 would be perfect scaling of the threads."""
        if self.speedup is None or not self.dbt_threads:
            return None
        return self.speedup / self.dbt_threads


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(rows: Sequence[RuntimeRow]) -> list[ConfigurationSummary]:
    """One summary per configuration of the successful runs with a wall time, fewest threads first.

    Speedup is the baseline's median wall ÷ this median wall, the baseline being the
    configuration with the fewest threads (threads=1 in a sweep that includes it).
    """
    groups: dict[str, list[RuntimeRow]] = {}
    for row in rows:
        if row.status == "success" and row.wall_seconds is not None:
            groups.setdefault(row.configuration, []).append(row)
    summaries = []
    for configuration, runs in groups.items():
        walls = [r.wall_seconds for r in runs if r.wall_seconds is not None]
        rss = [r.peak_rss_bytes for r in runs if r.peak_rss_bytes is not None]
        summaries.append(
            ConfigurationSummary(
                configuration=configuration,
                executor_mode=runs[0].executor_mode,
                max_concurrent=runs[0].max_concurrent,
                dbt_threads=runs[0].dbt_threads,
                n_runs=len(runs),
                median_wall_seconds=statistics.median(walls),
                min_wall_seconds=min(walls),
                max_wall_seconds=max(walls),
                median_parallel_efficiency=_median([r.parallel_efficiency for r in runs]),
                peak_rss_bytes=max(rss) if rss else None,
                median_cpu_percent=_median([r.mean_cpu_percent for r in runs]),
                fingerprints=frozenset(r.fingerprint for r in runs if r.fingerprint),
                run_ids=tuple(r.run_id for r in runs),
            )
        )
    summaries.sort(key=lambda s: s.sort_key)
    if not summaries:
        return []
    baseline = summaries[0].median_wall_seconds
    return [
        ConfigurationSummary(**{**s.__dict__, "speedup": baseline / s.median_wall_seconds})
        for s in summaries
    ]
