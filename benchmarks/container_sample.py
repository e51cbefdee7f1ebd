"""Benchmark: the cost of one live-cap sample with and without the cgroup readings.

    .venv/bin/python benchmarks/container_sample.py [--samples 300] [--rounds 7]

Side by side in one process, interleaved round by round (medians over rounds of the per-sample
mean), so machine noise falls on every variant:

* ``host only``: what a sample cost before cgroup readings (psutil memory, CPU and the run's
  process tree: :class:`ProcessTreeProbe` with a probe that has no cgroup);
* ``host + cgroup``: the executor's sample now (the same plus :meth:`ContainerProbe.sample`);
* ``cgroup files only``: :meth:`ContainerProbe.sample` alone (limit, usage, ``memory.stat``
  per limited level, and the pressure file);
* ``locate``: parsing ``/proc/self/cgroup`` and ``/proc/self/mountinfo`` (once per run).

As root with a writable cgroup v1 memory controller the process first moves itself into a new
nested memory cgroup with a 4 GiB limit (so the memory files are read, as in a pod), and back
out and removes it at the end; otherwise it measures where it is. The default sample interval
is 0.5 s: the share of one CPU a sample costs is printed for it.
"""

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from orch_assets.executor.capacity import ProcessTreeProbe
from orch_assets.executor.cgroups import CgroupLayout, locate_self
from orch_assets.executor.container import ContainerProbe

DEFAULT_INTERVAL_S = 0.5


@contextmanager
def nested_limit() -> Iterator[str]:
    layout = locate_self()
    memory = layout.memory
    if os.geteuid() != 0 or memory is None or memory.version != 1:
        yield "where this process is (no nested memory cgroup: needs root and cgroup v1)"
        return
    path = memory.directory / f"orch_bench_{uuid.uuid4().hex[:6]}"
    path.mkdir()
    try:
        (path / "memory.limit_in_bytes").write_text(str(4 * 1024**3))
        (path / "cgroup.procs").write_text(str(os.getpid()))
        yield f"in a nested memory cgroup with a 4 GiB limit ({path})"
    finally:
        (memory.directory / "cgroup.procs").write_text(str(os.getpid()))
        path.rmdir()


def per_call_us(call: Callable[[], object], samples: int) -> float:
    started = time.perf_counter()
    for _ in range(samples):
        call()
    return (time.perf_counter() - started) / samples * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with nested_limit() as where:
        container = ContainerProbe()
        hostonly = ContainerProbe(layout=CgroupLayout("none", None, None, None), fs_root=Path("/x"))
        variants: dict[str, Callable[[], object]] = {
            "host only": ProcessTreeProbe(container=hostonly).read,
            "host + cgroup": ProcessTreeProbe(container=container).read,
            "cgroup files only": container.sample,
            "locate": locate_self,
        }
        print(
            f"Measured {where}; {container.describe(container.sample(), container.cpu_limit(os.cpu_count() or 1))}"
        )
        results: dict[str, list[float]] = {name: [] for name in variants}
        for round_index in range(args.rounds):
            names = list(variants) if round_index % 2 == 0 else list(reversed(variants))
            for name in names:
                results[name].append(per_call_us(variants[name], args.samples))
    print(f"\n{args.rounds} rounds x {args.samples} calls, medians of the per-call mean:\n")
    print(f"{'variant':<20} {'per call':>10} {'CPU share at 0.5 s':>20}")
    for name, values in results.items():
        median = statistics.median(values)
        share = median / 1e6 / DEFAULT_INTERVAL_S
        print(f"{name:<20} {median:>8.1f} us {share:>19.4%}")
    extra = statistics.median(results["host + cgroup"]) - statistics.median(results["host only"])
    print(f"\ncgroup readings add {extra:.1f} us per sample; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
