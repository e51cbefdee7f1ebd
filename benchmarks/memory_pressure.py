"""Measure memory pressure (PSI ``some avg10``) on the way to a cgroup's OOM kill.

    sudo .venv/bin/python benchmarks/memory_pressure.py [--limit-mb 600]

Needs root, a writable cgroup v1 memory controller and a cgroup v2 mount with pressure files
(these machines: ``/sys/fs/cgroup/memory`` and ``/sys/fs/cgroup/unified``). It creates a memory
cgroup with ``--limit-mb`` and a v2 cgroup (so the pressure is this workload's alone, not the
shared machine's), and runs a child in both that, in phases:

1. ``spare``: holds 40 % of the limit in anonymous memory and re-reads a file of 20 %
   (memory to spare);
2. ``tight``: holds 70 % and re-reads a file of 40 % (page cache must be reclaimed on every pass);
3. ``grow``: adds 25 MB of anonymous memory every 0.2 s until the kernel OOM-kills it.

Every 0.5 s it prints the cgroup's ``some avg10`` and the machine's (``/proc/pressure/memory``),
and at the end the maximum of each phase and the values in the last seconds before the kill.
The cgroups are removed at the end.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from orch_assets.executor.cgroups import locate_self
from orch_assets.executor.container import parse_pressure_some_avg10

MB = 1024**2
CHILD = r"""
import mmap, os, sys, time
limit, path = int(sys.argv[1]), sys.argv[2]
def hold(n):
    block = mmap.mmap(-1, n)
    block[::4096] = b"\1" * len(range(0, n, 4096))
    return block
def reread(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass
print("spare", flush=True)
held = [hold(int(limit * 0.4))]
with open(path, "wb") as f:
    for _ in range(int(limit * 0.2) // (1 << 20)):
        f.write(os.urandom(1 << 20))
reread(12)
print("tight", flush=True)
held.append(hold(int(limit * 0.3)))
with open(path, "ab") as f:
    for _ in range(int(limit * 0.2) // (1 << 20)):
        f.write(os.urandom(1 << 20))
reread(12)
print("grow", flush=True)
while True:
    held.append(hold(25 << 20))
    time.sleep(0.2)
"""


def _pressure(path: Path) -> float:
    return parse_pressure_some_avg10(path.read_text()) or 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-mb", type=int, default=600)
    args = parser.parse_args()
    layout = locate_self()
    if os.geteuid() != 0 or layout.memory is None or layout.memory.version != 1:
        sys.exit("needs root and a cgroup v1 memory controller")
    if layout.unified is None:
        sys.exit("needs a cgroup v2 mount for per-cgroup pressure")
    name = f"orch_psi_{uuid.uuid4().hex[:6]}"
    memory = layout.memory.directory / name
    unified = layout.unified.mount_point / name
    memory.mkdir()
    unified.mkdir()
    limit = args.limit_mb * MB
    samples: list[tuple[str, float, float]] = []
    try:
        (memory / "memory.limit_in_bytes").write_text(str(limit))
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "child.py"
            script.write_text(CHILD)
            enter = f"echo $$ > {memory}/cgroup.procs; echo $$ > {unified}/cgroup.procs"
            child = subprocess.Popen(
                ["sh", "-c", f"{enter}; exec {sys.executable} {script} {limit} {tmp}/f"],
                stdout=subprocess.PIPE,
                text=True,
            )
            os.set_blocking(child.stdout.fileno(), False)  # type: ignore[union-attr]
            phase = "start"
            while child.poll() is None:
                line = child.stdout.readline().strip()  # type: ignore[union-attr]
                phase = line or phase
                sample = (
                    phase,
                    _pressure(unified / "memory.pressure"),
                    _pressure(Path("/proc/pressure/memory")),
                )
                samples.append(sample)
                print(
                    f"{sample[0]:>6}  cgroup some avg10 {sample[1]:6.2f}  machine {sample[2]:6.2f}"
                )
                time.sleep(0.5)
            oom = (memory / "memory.oom_control").read_text().split()
            print(f"child exit {child.returncode}; memory.oom_control: {' '.join(oom)}")
    finally:
        for directory in (memory, unified):
            for _ in range(50):
                try:
                    directory.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
    for phase in ("spare", "tight", "grow"):
        values = [s[1] for s in samples if s[0] == phase]
        if values:
            print(f"{phase}: cgroup some avg10 max {max(values):.2f}, last {values[-1]:.2f}")
    print("last 3 s before the kill:", [f"{s[1]:.2f}" for s in samples[-6:]])


if __name__ == "__main__":
    main()
