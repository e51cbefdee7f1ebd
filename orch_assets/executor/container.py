"""Readings of the cgroup this process runs in: memory limit and working set, CPU quota, PSI.

``psutil`` reports the host: in a Kubernetes pod, a ``docker run -m`` container or a systemd
slice the kernel enforces the cgroup's limits instead, and OOM-kills the run process while the
host still shows gigabytes free. :class:`ContainerProbe` reads what the kernel enforces:

* memory: for the cgroup and each ancestor with a limit (``memory.max`` / ``memory.limit_in_bytes``;
  ``max`` or a value of 2^60 bytes or more is no limit), the usage (``memory.current`` /
  ``memory.usage_in_bytes``) minus reclaimable page cache (``inactive_file``, v1's hierarchical
  ``total_inactive_file``), as the kubelet computes a container's working set; the level with the
  least memory left is the reading;
* CPUs: the CFS quota (``cpu.max`` / ``cpu.cfs_quota_us`` ÷ ``cpu.cfs_period_us``, tightest
  ancestor, rounded up) and ``os.sched_getaffinity``, never more than the host's count;
* pressure: ``some avg10`` of ``memory.pressure`` in the cgroup's v2 directory, else
  ``/proc/pressure/memory`` (the share of the last 10 s in which some task stalled on memory).

A reading that cannot be made is ``None`` and the caller uses the host's.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from orch_assets.executor.cgroups import CgroupLayout, Controller, locate_self

GIB = 1024**3
UNLIMITED_BYTES = 1 << 60
PROC_PRESSURE_MEMORY = "proc/pressure/memory"


@dataclass(frozen=True)
class MemoryLimit:
    """The tightest memory limit over the cgroup and its ancestors, with its working set."""

    limit_bytes: int
    usage_bytes: int
    inactive_file_bytes: int
    source: str

    @property
    def working_set_bytes(self) -> int:
        return max(0, self.usage_bytes - self.inactive_file_bytes)

    @property
    def available_bytes(self) -> int:
        return max(0, self.limit_bytes - self.working_set_bytes)

    @property
    def percent(self) -> float:
        return 100.0 * self.working_set_bytes / self.limit_bytes if self.limit_bytes else 100.0

    def describe(self) -> str:
        return (
            f"{self.working_set_bytes / GIB:.2f} of {self.limit_bytes / GIB:.2f} GiB "
            f"({self.percent:.1f}%) in {self.source}"
        )


@dataclass(frozen=True)
class CpuLimit:
    """How many CPUs this process may use and what limits it."""

    cpus: int
    host_cpus: int
    quota_cpus: float | None
    affinity_cpus: int | None
    source: str

    def describe(self) -> str:
        return f"CPUs {self.cpus} from {self.source}"


@dataclass(frozen=True)
class Pressure:
    some_avg10: float
    source: str


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return UNLIMITED_BYTES
    try:
        return int(text)
    except ValueError:
        return None


def parse_memory_stat(text: str) -> dict[str, int]:
    stat: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            stat[key] = int(value)
    return stat


def parse_pressure_some_avg10(text: str) -> float | None:
    """``some avg10=1.23 avg60=...`` -> 1.23 (percent of the last 10 s)."""
    for line in text.splitlines():
        if line.startswith("some "):
            for field in line.split()[1:]:
                key, _, value = field.partition("=")
                if key == "avg10":
                    try:
                        return float(value)
                    except ValueError:
                        return None
    return None


def _levels(controller: Controller) -> list[Path]:
    """The cgroup directory and its ancestors up to the mount point.

    The mount point is included: in a container it is the container's own cgroup (its mount
    root); on a host it is the root cgroup, which has no limit (v2: no limit files at all).
    """
    levels = [controller.directory]
    directory = controller.directory
    while controller.mount_point in directory.parents:
        directory = directory.parent
        levels.append(directory)
    return levels


def _cgroup_path(controller: Controller, directory: Path) -> str:
    """The cgroup path of ``directory``: the process's own path, shortened for ancestors."""
    up = len(controller.directory.relative_to(directory).parts)
    path = PurePosixPath(controller.cgroup_path)
    if not up:
        return str(path)
    return str(path.parents[min(up, len(path.parents)) - 1])


def read_memory_limit(controller: Controller) -> MemoryLimit | None:
    """The level of the cgroup tree with the least memory left, or ``None`` without a limit."""
    v1 = controller.version == 1
    limit_file, usage_file = (
        ("memory.limit_in_bytes", "memory.usage_in_bytes")
        if v1
        else ("memory.max", "memory.current")
    )
    inactive_key = "total_inactive_file" if v1 else "inactive_file"
    best: MemoryLimit | None = None
    for directory in _levels(controller):
        limit = _read_int(directory / limit_file)
        if limit is None or limit >= UNLIMITED_BYTES:
            continue
        usage = _read_int(directory / usage_file)
        if usage is None:
            continue
        stat = parse_memory_stat(_read(directory / "memory.stat") or "")
        reading = MemoryLimit(
            limit_bytes=limit,
            usage_bytes=usage,
            inactive_file_bytes=stat.get(inactive_key, 0),
            source=f"cgroup v{controller.version} {_cgroup_path(controller, directory)} "
            f"({limit_file})",
        )
        if best is None or reading.available_bytes < best.available_bytes:
            best = reading
    return best


def _quota(controller: Controller, directory: Path) -> float | None:
    if controller.version == 1:
        quota = _read_int(directory / "cpu.cfs_quota_us")
        period = _read_int(directory / "cpu.cfs_period_us")
    else:
        text = (_read(directory / "cpu.max") or "").split()
        if len(text) != 2 or text[0] == "max" or not text[1].isdigit():
            return None
        quota, period = (int(text[0]) if text[0].isdigit() else None), int(text[1])
    if quota is None or period is None or quota <= 0 or period <= 0:
        return None
    return quota / period


def _tightest_quota(controller: Controller) -> tuple[float, str] | None:
    found: tuple[float, str] | None = None
    for directory in _levels(controller):
        quota = _quota(controller, directory)
        if quota is not None and (found is None or quota < found[0]):
            where = _cgroup_path(controller, directory)
            found = (quota, f"the CPU quota {quota:g} of cgroup v{controller.version} {where}")
    return found


def read_cpu_limit(controller: Controller | None, host_cpus: int) -> CpuLimit:
    """The host's CPUs, lowered by the tightest CFS quota in the tree and the affinity mask."""
    candidates: list[tuple[int, str]] = [(host_cpus, f"the host's {host_cpus} CPUs")]
    quota = _tightest_quota(controller) if controller is not None else None
    if quota is not None:
        candidates.append((max(1, math.ceil(quota[0])), quota[1]))
    affinity: int | None = None
    try:
        affinity = len(os.sched_getaffinity(0))
        candidates.append((affinity, f"the CPU affinity ({affinity} CPUs)"))
    except (AttributeError, OSError):
        pass
    cpus, source = min(candidates, key=lambda c: c[0])
    return CpuLimit(
        max(1, cpus), host_cpus, quota[0] if quota is not None else None, affinity, source
    )


def read_pressure(layout: CgroupLayout | None, fs_root: Path = Path("/")) -> Pressure | None:
    """Memory PSI of the cgroup (v2 directory), else of the whole system, else ``None``."""
    candidates: list[tuple[Path, str]] = []
    if layout is not None and layout.unified is not None:
        path = layout.unified.directory / "memory.pressure"
        candidates.append((path, f"cgroup v2 {layout.unified.cgroup_path} memory.pressure"))
    candidates.append((fs_root / PROC_PRESSURE_MEMORY, "/proc/pressure/memory"))
    for path, source in candidates:
        text = _read(path)
        value = parse_pressure_some_avg10(text) if text is not None else None
        if value is not None:
            return Pressure(value, source)
    return None


@dataclass(frozen=True)
class ContainerSample:
    memory: MemoryLimit | None
    pressure: Pressure | None


class ContainerProbe:
    """Locates this process's cgroup once; :meth:`sample` reads it (a few small files)."""

    def __init__(self, layout: CgroupLayout | None = None, fs_root: Path = Path("/")) -> None:
        self.error: str | None = None
        self.fs_root = fs_root
        if layout is None:
            try:
                layout = locate_self(fs_root)
            except OSError as error:
                self.error = f"cannot read /proc/self/cgroup or mountinfo: {error}"
        self.layout = layout

    def sample(self) -> ContainerSample:
        memory_controller = self.layout.memory if self.layout is not None else None
        memory = read_memory_limit(memory_controller) if memory_controller is not None else None
        return ContainerSample(memory=memory, pressure=read_pressure(self.layout, self.fs_root))

    def cpu_limit(self, host_cpus: int) -> CpuLimit:
        return read_cpu_limit(self.layout.cpu if self.layout is not None else None, host_cpus)

    def describe(self, sample: ContainerSample, cpu: CpuLimit) -> str:
        """Where the run's limits come from, in one sentence (the run's first engine event)."""
        layout = self.layout.layout if self.layout is not None else "unknown"
        memory = (
            f"memory limit {sample.memory.limit_bytes / GIB:.2f} GiB from {sample.memory.source}"
            if sample.memory is not None
            else "no cgroup memory limit (host memory)"
        )
        pressure = (
            f"memory pressure from {sample.pressure.source}"
            if sample.pressure is not None
            else "no memory pressure (PSI) readings"
        )
        return f"cgroup layout {layout}: {memory}; {cpu.describe()}; {pressure}"


def step_cgroup_metadata() -> dict[str, str]:
    """A step process's own cgroup, for its ``STEP_WORKER_STARTED`` event (process and dask
    mode): a Dask worker's container is not the run's."""
    probe = ContainerProbe()
    memory = probe.sample().memory
    return {
        "cgroup_memory": memory.describe() if memory is not None else "no cgroup memory limit",
        "cgroup_cpus": probe.cpu_limit(host_cpu_count()).describe(),
    }


def host_cpu_count() -> int:
    return os.cpu_count() or 1


def run_cpu_limit() -> CpuLimit:
    """CPUs the calling process may use: the host's count, lowered by its cgroup's CPU quota
    and its affinity mask. What ``auto`` means for ``max_concurrent`` and dbt ``threads``."""
    return ContainerProbe().cpu_limit(host_cpu_count())
