"""Live concurrency cap from psutil readings, and the run's resource metrics.

:func:`decide_cap` is a pure function of the configuration, one :class:`Reading` and the previous
:class:`CapState`, so the policy is testable without psutil:

* memory: at ``memory_pause_percent`` used the cap drops to 1 (running steps finish, no new step
  starts beside them); it stays there until usage falls below ``memory_resume_percent``, so it
  does not flap around one threshold;
* ``memory_per_step_gb``: the cap is at most the number of step budgets that fit in the memory
  available to the run (system available memory plus what the run's processes have grown by
  since the run started, so the run's own steps do not count twice);
* ``memory_pressure_pause``: while the kernel's memory pressure (PSI ``some avg10``, the share of
  the last 10 s in which some task of the cgroup stalled on reclaim) is at or above it, the cap is
  1; avg10 is itself a moving average, so it does not flap;
* ``cpu_saturation_percent``: while system CPU is at or above it (released 10 points below) the
  cap is at most the number of logical CPUs, since more CPU-hungry steps cannot go faster;
* never below 1, so a run always finishes.

Memory readings are the tighter of the host's (psutil) and the run's cgroup's
(:mod:`orch_assets.executor.container`): the higher used % and the lower available bytes, each
labelled with where it came from.
"""

import math
import os
import time
from dataclasses import dataclass, replace

import psutil

from orch_assets.executor.container import ContainerProbe, ContainerSample

GIB = 1024**3
CPU_RELEASE_MARGIN = 10.0


@dataclass(frozen=True)
class Reading:
    """One psutil sample of the machine and of the run's process tree."""

    memory_percent: float
    available_bytes: int
    cpu_percent: float
    tree_rss_bytes: int
    tree_cpu_seconds: float
    at: float
    memory_source: str = "host"
    available_source: str = "host"
    pressure_some_avg10: float | None = None
    pressure_source: str | None = None

    def describe(self) -> str:
        pressure = (
            f", memory pressure {self.pressure_some_avg10:.2f}% ({self.pressure_source})"
            if self.pressure_some_avg10 is not None
            else ""
        )
        used = f"memory {self.memory_percent:.1f}% used"
        available = f"{self.available_bytes / GIB:.2f} GiB available"
        if self.memory_source == self.available_source:
            memory = f"{used}, {available} {_where(self.memory_source)}"
        else:
            memory = (
                f"{used} {_where(self.memory_source)}, {available} {_where(self.available_source)}"
            )
        return (
            f"{memory}, CPU {self.cpu_percent:.0f}%, run RSS {self.tree_rss_bytes / GIB:.2f} GiB"
            f"{pressure}"
        )


def _where(source: str) -> str:
    return "on the host" if source == "host" else f"in {source}"


@dataclass(frozen=True)
class CapPolicy:
    max_concurrent: int
    memory_pause_percent: float
    memory_resume_percent: float
    memory_per_step_gb: float | None
    cpu_saturation_percent: float | None
    cpu_count: int
    memory_pressure_pause: float | None = None


@dataclass(frozen=True)
class CapState:
    memory_paused: bool = False
    cpu_saturated: bool = False
    baseline_rss_bytes: int | None = None


@dataclass(frozen=True)
class CapDecision:
    cap: int
    reasons: tuple[str, ...]
    state: CapState


def decide_cap(policy: CapPolicy, reading: Reading, state: CapState) -> CapDecision:
    """Compute how many steps may run now (see the module docstring for the rules)."""
    baseline = state.baseline_rss_bytes
    if baseline is None:
        baseline = reading.tree_rss_bytes
    paused = state.memory_paused
    if reading.memory_percent >= policy.memory_pause_percent:
        paused = True
    elif reading.memory_percent < policy.memory_resume_percent:
        paused = False
    saturated = state.cpu_saturated
    if policy.cpu_saturation_percent is not None:
        if reading.cpu_percent >= policy.cpu_saturation_percent:
            saturated = True
        elif reading.cpu_percent < policy.cpu_saturation_percent - CPU_RELEASE_MARGIN:
            saturated = False
    else:
        saturated = False

    cap = policy.max_concurrent
    reasons: list[str] = []
    if paused:
        cap = 1
        reasons.append(
            f"memory {reading.memory_percent:.1f}% used: paused at "
            f"{policy.memory_pause_percent:.1f}%, resumes below {policy.memory_resume_percent:.1f}%"
        )
    pressure = reading.pressure_some_avg10
    if (
        policy.memory_pressure_pause is not None
        and pressure is not None
        and pressure >= policy.memory_pressure_pause
    ):
        cap = 1
        reasons.append(
            f"memory pressure some avg10 {pressure:.2f}% >= memory_pressure_pause "
            f"{policy.memory_pressure_pause:g}% ({reading.pressure_source})"
        )
    if policy.memory_per_step_gb:
        budget = reading.available_bytes + max(0, reading.tree_rss_bytes - baseline)
        fits = math.floor(budget / (policy.memory_per_step_gb * GIB))
        if fits < cap:
            cap = fits
            reasons.append(
                f"{budget / GIB:.2f} GiB for the run fits {fits} steps of "
                f"{policy.memory_per_step_gb:g} GiB"
            )
    if saturated and policy.cpu_count < cap:
        cap = policy.cpu_count
        reasons.append(
            f"CPU {reading.cpu_percent:.0f}% >= {policy.cpu_saturation_percent:g}%: "
            f"limited to {policy.cpu_count} CPUs"
        )
    cap = max(1, cap)
    new_state = replace(
        state, memory_paused=paused, cpu_saturated=saturated, baseline_rss_bytes=baseline
    )
    return CapDecision(cap=cap, reasons=tuple(reasons), state=new_state)


def with_container(reading: Reading, container: ContainerSample) -> Reading:
    """The higher used % and the lower available bytes of host and cgroup, with their sources."""
    limit, pressure = container.memory, container.pressure
    if limit is not None and limit.percent > reading.memory_percent:
        reading = replace(reading, memory_percent=limit.percent, memory_source=limit.source)
    if limit is not None and limit.available_bytes < reading.available_bytes:
        reading = replace(
            reading, available_bytes=limit.available_bytes, available_source=limit.source
        )
    if pressure is not None:
        reading = replace(
            reading, pressure_some_avg10=pressure.some_avg10, pressure_source=pressure.source
        )
    return reading


class ProcessTreeProbe:
    """Reads host and cgroup memory, system CPU, and RSS and CPU time of this process tree."""

    def __init__(self, pid: int | None = None, container: ContainerProbe | None = None) -> None:
        self._process = psutil.Process(pid or os.getpid())
        self.container = container if container is not None else ContainerProbe()
        psutil.cpu_percent(interval=None)

    def read(self) -> Reading:
        memory = psutil.virtual_memory()
        container = self.container.sample()
        cpu = psutil.cpu_percent(interval=None)
        rss, cpu_seconds = 0, 0.0
        for index, proc in enumerate([self._process, *self._process.children(recursive=True)]):
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    times = proc.cpu_times()
                    cpu_seconds += times.user + times.system
                    if index == 0:
                        cpu_seconds += times.children_user + times.children_system
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        host = Reading(
            memory_percent=memory.percent,
            available_bytes=memory.available,
            cpu_percent=cpu,
            tree_rss_bytes=rss,
            tree_cpu_seconds=cpu_seconds,
            at=time.monotonic(),
        )
        return with_container(host, container)


@dataclass
class RunMetrics:
    """Peak RSS, mean CPU and peak concurrency of a run, written as run tags at its end."""

    peak_rss_bytes: int = 0
    first: Reading | None = None
    last: Reading | None = None
    peak_concurrency: int = 0

    def observe(self, reading: Reading) -> None:
        self.peak_rss_bytes = max(self.peak_rss_bytes, reading.tree_rss_bytes)
        self.first = self.first or reading
        self.last = reading

    def mean_cpu_percent(self) -> float | None:
        """CPU time of the run's processes over wall time, in % of one CPU (can exceed 100)."""
        if not self.first or not self.last or self.last.at <= self.first.at:
            return None
        busy = self.last.tree_cpu_seconds - self.first.tree_cpu_seconds
        return max(0.0, 100.0 * busy / (self.last.at - self.first.at))
