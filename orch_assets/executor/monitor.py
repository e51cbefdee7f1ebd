"""Periodic sampling for one run: the live cap, its change notices and run metrics.

Readings are the host's (psutil) and the run process's cgroup's
(:mod:`orch_assets.executor.container`), the tighter of the two. :func:`limits_notice`
says where the run's limits come from, for the run's first engine event.
"""

import time
from dataclasses import dataclass

from orch_assets.executor.capacity import (
    CapPolicy,
    CapState,
    ProcessTreeProbe,
    Reading,
    RunMetrics,
    decide_cap,
)
from orch_assets.executor.config import AdaptiveSettings
from orch_assets.executor.container import ContainerProbe, CpuLimit, host_cpu_count
from orch_assets.executor.live import publish_live_cap, retract_live_cap


@dataclass(frozen=True)
class Notice:
    """Something the engine should report as one engine event."""

    message: str
    metadata: dict[str, str | int | float]


def limits_notice(container: ContainerProbe, cpu: CpuLimit) -> Notice:
    """Where memory, CPU and pressure readings come from, or that the host's are used."""
    if container.error is not None or container.layout is None or container.layout.layout == "none":
        error = container.error or "no cgroup mount for this process in /proc/self/mountinfo"
        return Notice(
            message=(
                f"No cgroup readings ({error}): the live cap uses the host's memory and "
                f"{cpu.describe()}."
            ),
            metadata={"limits_source": "host", "limits_error": error},
        )
    sample = container.sample()
    described = container.describe(sample, cpu)
    metadata: dict[str, str | int | float] = {
        "limits_source": described,
        "cgroup_layout": container.layout.layout,
        "cpus": cpu.cpus,
        "cpu_source": cpu.source,
    }
    if sample.memory is not None:
        metadata["memory_limit_bytes"] = sample.memory.limit_bytes
        metadata["memory_limit_source"] = sample.memory.source
    return Notice(message=f"Limits: {described}.", metadata=metadata)


class CapacityMonitor:
    """Owns the live cap of a run; :meth:`sample` returns a :class:`Notice` when it changes.

    In ``sequential`` mode the cap stays 1 and readings only feed the run metrics. If a reading
    fails, the cap falls back to the configured maximum and a notice says so once.
    """

    def __init__(
        self,
        settings: AdaptiveSettings,
        run_id: str,
        container: ContainerProbe | None = None,
    ) -> None:
        self._settings = settings
        self._run_id = run_id
        self._container = container if container is not None else ContainerProbe()
        self.cpu_limit = self._container.cpu_limit(host_cpu_count())
        self._policy = CapPolicy(
            max_concurrent=settings.max_concurrent,
            memory_pause_percent=settings.memory_pause_percent,
            memory_resume_percent=settings.memory_resume_percent,
            memory_per_step_gb=settings.memory_per_step_gb,
            cpu_saturation_percent=settings.cpu_saturation_percent,
            cpu_count=self.cpu_limit.cpus,
            memory_pressure_pause=settings.memory_pressure_pause,
        )
        self._state = CapState()
        self._probe: ProcessTreeProbe | None = None
        self._failed = False
        self.cap = settings.max_concurrent
        self.metrics = RunMetrics()
        self._next_sample = 0.0
        publish_live_cap(run_id, self.cap)

    def new_probe(self) -> ProcessTreeProbe:
        return ProcessTreeProbe(container=self._container)

    def seconds_to_next_sample(self) -> float:
        return max(0.0, self._next_sample - time.monotonic())

    def sample_if_due(self) -> Notice | None:
        if time.monotonic() < self._next_sample:
            return None
        return self.sample()

    def sample(self) -> Notice | None:
        self._next_sample = time.monotonic() + self._settings.sample_interval_s
        if self._failed:
            return None
        try:
            if self._probe is None:
                self._probe = self.new_probe()
            reading = self._probe.read()
        except Exception as error:
            return self._fall_back(error)
        self.metrics.observe(reading)
        if self._settings.mode == "sequential":
            return None
        decision = decide_cap(self._policy, reading, self._state)
        self._state = decision.state
        if decision.cap == self.cap:
            return None
        old, self.cap = self.cap, decision.cap
        publish_live_cap(self._run_id, self.cap)
        return self._change_notice(old, reading, decision.reasons)

    def _change_notice(self, old: int, reading: Reading, reasons: tuple[str, ...]) -> Notice:
        why = (
            "; ".join(reasons)
            if reasons
            else f"back to max_concurrent {self._policy.max_concurrent}"
        )
        return Notice(
            message=(
                f"Adaptive executor: live cap {old} -> {self.cap} ({why}; {reading.describe()})."
            ),
            metadata={
                "old_cap": old,
                "new_cap": self.cap,
                "reason": why,
                "memory_percent": reading.memory_percent,
                "available_bytes": reading.available_bytes,
                "cpu_percent": reading.cpu_percent,
                "run_rss_bytes": reading.tree_rss_bytes,
                "memory_source": reading.memory_source,
                "available_source": reading.available_source,
                "memory_pressure_some_avg10": (
                    reading.pressure_some_avg10 if reading.pressure_some_avg10 is not None else -1.0
                ),
            },
        )

    def _fall_back(self, error: Exception) -> Notice:
        self._failed = True
        old, self.cap = self.cap, self._policy.max_concurrent
        publish_live_cap(self._run_id, self.cap)
        return Notice(
            message=(
                f"Adaptive executor: psutil readings failed ({type(error).__name__}: {error}); "
                f"using the static cap {self.cap} for the rest of the run."
            ),
            metadata={"old_cap": old, "new_cap": self.cap, "error": repr(error)},
        )

    def close(self) -> None:
        if not self._failed:
            try:
                if self._probe is not None:
                    self.metrics.observe(self._probe.read())
            except Exception:
                self._failed = True
        retract_live_cap(self._run_id)
