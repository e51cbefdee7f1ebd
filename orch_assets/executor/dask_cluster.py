"""Connecting to the Dask cluster of a ``mode: dask`` run, and reading its workers.

``distributed`` is imported here lazily, so the executor works without the ``[dask]`` extra in
every other mode; in ``mode: dask`` its absence, an unreachable scheduler, a cluster without
workers and a ``memory_per_step_gb`` no worker can hold each fail the run before any step with
an error naming the field.
"""

from dataclasses import dataclass
from typing import Any

import psutil

from orch_assets.executor.config import AdaptiveConfigError, AdaptiveSettings
from orch_assets.executor.container import ContainerProbe
from orch_assets.executor.dask_config import DaskSettings

MEMORY_RESOURCE = "orch_memory_gb"
"""Dask worker resource a step needs ``memory_per_step_gb`` of; workers declare their memory."""
TREE_METRIC = "orch_tree"
GIB = 1024**3


@dataclass(frozen=True)
class WorkerReading:
    """One worker as its scheduler last heard of it (heartbeats, ~0.5 s on small clusters)."""

    address: str
    memory_bytes: int
    memory_limit_bytes: int
    host_memory_percent: float | None
    cpu_percent: float
    executing: int
    nthreads: int
    memory_resource_gb: float | None
    cgroup_percent: float | None = None
    cgroup_source: str | None = None

    @property
    def dask_memory_percent(self) -> float:
        """Memory of the worker and its step processes over its limit (else the host's %)."""
        if self.memory_limit_bytes > 0:
            return 100.0 * self.memory_bytes / self.memory_limit_bytes
        return self.host_memory_percent or 0.0

    @property
    def memory_percent(self) -> float:
        """The tighter of Dask's view and the worker's own cgroup (its container's limit)."""
        return max(self.dask_memory_percent, self.cgroup_percent or 0.0)

    def describe(self) -> str:
        limit = (
            f"of {self.memory_limit_bytes / GIB:.2f} GiB"
            if self.memory_limit_bytes
            else "of the host"
        )
        cgroup = (
            f", {self.cgroup_percent:.1f}% in its {self.cgroup_source}"
            if self.cgroup_percent is not None
            else ""
        )
        return (
            f"{self.address} memory {self.dask_memory_percent:.1f}% {limit} "
            f"({self.memory_bytes / GIB:.2f} GiB){cgroup}, CPU {self.cpu_percent:.0f}%, "
            f"{self.executing} running"
        )


def reading_from_info(address: str, info: dict[str, Any]) -> WorkerReading:
    """A reading from one entry of ``Client.scheduler_info()['workers']``."""
    metrics = info.get("metrics") or {}
    tree = metrics.get(TREE_METRIC)
    memory = tree["rss"] if isinstance(tree, dict) and "rss" in tree else metrics.get("memory", 0)
    tree = tree if isinstance(tree, dict) else {}
    host_percent = tree.get("host_memory_percent")
    cgroup_percent = tree.get("cgroup_percent")
    counts = metrics.get("task_counts") or {}
    resource = (info.get("resources") or {}).get(MEMORY_RESOURCE)
    return WorkerReading(
        address=address,
        memory_bytes=int(memory or 0),
        memory_limit_bytes=int(info.get("memory_limit") or 0),
        host_memory_percent=host_percent,
        cpu_percent=float(metrics.get("cpu") or 0.0),
        executing=int(counts.get("executing", 0)),
        nthreads=int(info.get("nthreads") or 1),
        memory_resource_gb=float(resource) if resource is not None else None,
        cgroup_percent=float(cgroup_percent) if cgroup_percent is not None else None,
        cgroup_source=str(tree.get("cgroup_source")) if cgroup_percent is not None else None,
    )


_worker_container: list[ContainerProbe] = []


def tree_metric(worker: Any) -> dict[str, float | str]:
    """A worker metric: RSS of the worker and all its descendants (the steps' processes), and
    the worker's own cgroup (its container's limit and working set), located once per worker."""
    root = psutil.Process()
    rss = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            rss += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    metric: dict[str, float | str] = {
        "rss": float(rss),
        "host_memory_percent": psutil.virtual_memory().percent,
    }
    if not _worker_container:
        _worker_container.append(ContainerProbe())
    limit = _worker_container[0].sample().memory
    if limit is not None:
        metric["cgroup_percent"] = limit.percent
        metric["cgroup_source"] = limit.source
    return metric


def _fail(field: str, problem: str) -> AdaptiveConfigError:
    return AdaptiveConfigError(f"Invalid adaptive executor config: '{field}': {problem}")


class DaskCluster:
    """A client of the run's cluster, and the LocalCluster when the run started one."""

    def __init__(self, client: Any, local_cluster: Any | None, address: str) -> None:
        self.client = client
        self.address = address
        self._local_cluster = local_cluster

    @classmethod
    def connect(cls, settings: AdaptiveSettings) -> "DaskCluster":
        dask = settings.dask
        assert dask is not None
        try:
            from distributed import Client
        except ImportError as error:
            raise _fail(
                "mode",
                "mode dask needs the optional dependency `distributed`: "
                f'pip install -e ".[dask]" ({error}).',
            ) from None
        local = cls._start_local(dask) if dask.local is not None else None
        address = local.scheduler_address if local is not None else str(dask.address)
        try:
            client = Client(address, timeout=dask.connect_timeout_s, set_as_default=False)
        except (OSError, TimeoutError) as error:
            if local is not None:
                local.close()
            raise _fail(
                "dask.address",
                f"could not reach the Dask scheduler at {address} within "
                f"{dask.connect_timeout_s:g} s (dask.connect_timeout_s): {error}",
            ) from None
        cluster = cls(client, local, address)
        try:
            cluster._check_workers(settings)
        except BaseException:
            cluster.close()
            raise
        return cluster

    @staticmethod
    def _start_local(dask: DaskSettings) -> Any:
        from distributed import LocalCluster

        local = dask.local
        assert local is not None
        memory = local.memory_limit_bytes or psutil.virtual_memory().total // local.n_workers
        return LocalCluster(
            n_workers=local.n_workers,
            threads_per_worker=local.threads_per_worker,
            memory_limit=memory,
            processes=True,
            dashboard_address=":0",
            resources={MEMORY_RESOURCE: round(memory / GIB, 3)},
        )

    def _check_workers(self, settings: AdaptiveSettings) -> None:
        assert settings.dask is not None
        try:
            self.client.wait_for_workers(1, timeout=settings.dask.connect_timeout_s)
        except (OSError, TimeoutError):
            raise _fail(
                "dask.address",
                f"the Dask scheduler at {self.address} has no workers after "
                f"{settings.dask.connect_timeout_s:g} s (start some with `dask worker "
                f"{self.address}`)",
            ) from None
        need = settings.memory_per_step_gb
        if need is None:
            return
        offers = [r.memory_resource_gb or 0.0 for r in self.readings()]
        if max(offers, default=0.0) < need:
            raise _fail(
                "memory_per_step_gb",
                f"{need:g} GiB per step, but no worker of {self.address} declares the resource "
                f"{MEMORY_RESOURCE} >= {need:g} (largest: {max(offers, default=0.0):g}); start "
                f'workers with `dask worker --resources "{MEMORY_RESOURCE}=<GiB>"`.',
            )

    def readings(self) -> list[WorkerReading]:
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        return [reading_from_info(address, info) for address, info in sorted(workers.items())]

    def close(self) -> None:
        try:
            self.client.close(timeout=5)
        finally:
            if self._local_cluster is not None:
                self._local_cluster.close(timeout=10)
