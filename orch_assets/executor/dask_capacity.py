"""The cluster-wide live cap of ``mode: dask``, from the Dask scheduler's per-worker metrics.

:func:`decide_cluster_cap` is pure: a worker is *full* from ``memory_pause_percent`` of its
memory limit until it falls below ``memory_resume_percent`` (memory = the worker process and
the step processes it started). New steps go to workers with headroom; the cap is the worker
threads of those workers (at most ``max_concurrent``), and 1 when every worker is full, so a
run never stops: one step at a time still runs.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass

from orch_assets.executor.config import AdaptiveSettings
from orch_assets.executor.container import ContainerProbe
from orch_assets.executor.dask_cluster import DaskCluster, WorkerReading
from orch_assets.executor.live import publish_live_cap
from orch_assets.executor.monitor import CapacityMonitor, Notice


@dataclass(frozen=True)
class ClusterDecision:
    cap: int
    full: frozenset[str]
    headroom: tuple[str, ...]
    reason: str


def decide_cluster_cap(
    max_concurrent: int,
    pause_percent: float,
    resume_percent: float,
    readings: Sequence[WorkerReading],
    full_before: frozenset[str],
) -> ClusterDecision:
    full = frozenset(
        r.address
        for r in readings
        if r.memory_percent >= pause_percent
        or (r.address in full_before and r.memory_percent >= resume_percent)
    )
    headroom = tuple(r.address for r in readings if r.address not in full)
    if not readings:
        return ClusterDecision(1, full, headroom, "no workers in the cluster")
    if not headroom:
        reason = (
            f"all {len(readings)} workers at or above memory_pause_percent {pause_percent:g}% "
            f"(resume below {resume_percent:g}%)"
        )
        return ClusterDecision(1, full, headroom, reason)
    threads = sum(r.nthreads for r in readings if r.address in headroom)
    cap = max(1, min(max_concurrent, threads))
    reason = f"{len(headroom)} of {len(readings)} workers with headroom, {threads} threads"
    if full:
        reason += f"; full (>= {pause_percent:g}%): {', '.join(sorted(full))}"
    return ClusterDecision(cap, full, headroom, reason)


class ClusterCapacityMonitor(CapacityMonitor):
    """The live cap of a dask-mode run; local psutil readings only feed the run metrics."""

    def __init__(
        self,
        settings: AdaptiveSettings,
        run_id: str,
        cluster: DaskCluster,
        container: ContainerProbe | None = None,
    ) -> None:
        super().__init__(settings, run_id, container)
        self.cluster = cluster
        self._full: frozenset[str] = frozenset()
        self.headroom: tuple[str, ...] = ()
        self._cluster_failed = False

    def sample(self) -> Notice | None:
        self._sample_local()
        self._next_sample = time.monotonic() + self._settings.sample_interval_s
        try:
            readings = self.cluster.readings()
        except Exception as error:
            if self._cluster_failed:
                return None
            self._cluster_failed = True
            return Notice(
                message=f"Adaptive executor: reading the Dask scheduler failed "
                f"({type(error).__name__}: {error}); keeping the cap at {self.cap}.",
                metadata={"error": repr(error)},
            )
        self._cluster_failed = False
        settings = self._settings
        decision = decide_cluster_cap(
            settings.max_concurrent,
            settings.memory_pause_percent,
            settings.memory_resume_percent,
            readings,
            self._full,
        )
        self._full, self.headroom = decision.full, decision.headroom
        if decision.cap == self.cap:
            return None
        old, self.cap = self.cap, decision.cap
        publish_live_cap(self._run_id, self.cap)
        workers = "; ".join(reading.describe() for reading in readings)
        return Notice(
            message=f"Adaptive executor: cluster live cap {old} -> {self.cap} "
            f"({decision.reason}). Workers: {workers}.",
            metadata={
                "old_cap": old,
                "new_cap": self.cap,
                "reason": decision.reason,
                "workers": workers,
                "full_workers": ", ".join(sorted(decision.full)),
            },
        )

    def _sample_local(self) -> None:
        """Peak RSS and CPU of the run process, for the run's metric tags."""
        try:
            if self._probe is None:
                self._probe = self.new_probe()
            self.metrics.observe(self._probe.read())
        except Exception:
            self._probe = None
