"""Periodic psutil sampling for one run: the live cap, its change notices and run metrics."""

import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from orch_assets.executor.capacity import (
    CapPolicy,
    CapState,
    ProcessTreeProbe,
    Reading,
    RunMetrics,
    decide_cap,
)
from orch_assets.executor.config import AdaptiveSettings
from orch_assets.executor.live import publish_live_cap, retract_live_cap


@dataclass(frozen=True)
class Notice:
    """Something the engine should report as one engine event."""

    message: str
    metadata: dict[str, str | int | float]


class CapacityMonitor:
    """Owns the live cap of a run; :meth:`sample` returns a :class:`Notice` when it changes.

    In ``sequential`` mode the cap stays 1 and readings only feed the run metrics. If a reading
    fails, the cap falls back to the configured maximum and a notice says so once.
    """

    def __init__(
        self,
        settings: AdaptiveSettings,
        run_id: str,
        probe_factory: Callable[[], ProcessTreeProbe] = ProcessTreeProbe,
    ) -> None:
        self._settings = settings
        self._run_id = run_id
        self._policy = CapPolicy(
            max_concurrent=settings.max_concurrent,
            memory_pause_percent=settings.memory_pause_percent,
            memory_resume_percent=settings.memory_resume_percent,
            memory_per_step_gb=settings.memory_per_step_gb,
            cpu_saturation_percent=settings.cpu_saturation_percent,
            cpu_count=psutil.cpu_count() or 1,
        )
        self._state = CapState()
        self._probe: ProcessTreeProbe | None = None
        self._probe_factory = probe_factory
        self._failed = False
        self.cap = settings.max_concurrent
        self.metrics = RunMetrics()
        self._next_sample = 0.0
        publish_live_cap(run_id, self.cap)

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
                self._probe = self._probe_factory()
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
