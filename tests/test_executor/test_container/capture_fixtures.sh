#!/bin/sh
# Captures the cgroup fixtures of test_cgroup_layouts.py from this machine's kernel (root,
# cgroup v1 controllers with v2 at /sys/fs/cgroup/unified). Rerun to refresh; it removes the
# cgroups it creates. Usage: sudo sh capture_fixtures.sh <python>
set -eu
PY=${1:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/fixtures
MEM_SELF=$(awk -F: '$2=="memory"{print $3}' /proc/self/cgroup)
MEM=/sys/fs/cgroup/memory$MEM_SELF/orch_capture
CPU=/sys/fs/cgroup/cpu/orch_capture
V2=/sys/fs/cgroup/unified/orch_capture
cleanup() {
  for d in $MEM/leaf $MEM $CPU/leaf $CPU $V2/leaf $V2; do [ -d "$d" ] && rmdir "$d" 2>/dev/null || true; done
}
trap cleanup EXIT
mkdir -p $MEM/leaf $CPU/leaf $V2/leaf
echo 1073741824 > $MEM/memory.limit_in_bytes          # parent 1 GiB: tighter than the leaf
echo 1700000000 > $MEM/leaf/memory.limit_in_bytes     # leaf 1.7 GB
echo 50000 > $CPU/cpu.cfs_quota_us                    # parent 0.5 CPU
rm -rf "$OUT"
mkdir -p "$OUT"
# A process in the leaf cgroups that holds 200 MB of anonymous memory and 64 MB of page cache
# while it copies the kernel files it sees.
"$PY" - "$OUT" "$MEM" "$CPU" "$V2" <<'PYEOF'
import os, shutil, subprocess, sys
out, mem, cpu, v2 = sys.argv[1:]
for d in (mem + "/leaf", cpu + "/leaf", v2 + "/leaf"):
    with open(d + "/cgroup.procs", "w") as f:
        f.write(str(os.getpid()))
held = bytearray(200 * 1024 * 1024)
held[::4096] = b"\1" * len(range(0, len(held), 4096))
cache = os.path.join(out, "page_cache.tmp")
with open(cache, "wb") as f:
    f.write(os.urandom(64 * 1024 * 1024))
with open(cache, "rb") as f:
    f.read()

def copy(src, root, rel=None):
    dst = os.path.join(out, root, (rel or src).lstrip("/"))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(src) as f:
        text = f.read()
    if src.endswith("mountinfo"):  # the sandbox's own mounts under /mnt are left out
        text = "".join(line for line in text.splitlines(True) if " /mnt/" not in line)
    with open(dst, "w") as f:
        f.write(text)

# 1. hybrid, nested: this machine as a process sees it.
for name in ("/proc/self/cgroup", "/proc/self/mountinfo", "/proc/pressure/memory"):
    copy(name, "hybrid_nested")
for level in (mem + "/leaf", mem):
    for name in ("memory.limit_in_bytes", "memory.usage_in_bytes", "memory.stat"):
        copy(f"{level}/{name}", "hybrid_nested")
for level in (cpu + "/leaf", cpu):
    for name in ("cpu.cfs_quota_us", "cpu.cfs_period_us"):
        copy(f"{level}/{name}", "hybrid_nested")
for name in ("memory.pressure", "cpu.stat", "cgroup.controllers"):
    copy(f"{v2}/leaf/{name}", "hybrid_nested")
copy("/sys/fs/cgroup/unified/cgroup.controllers", "hybrid_nested")
# 2. v1 as a container sees it: its own cgroups bind-mounted with a mount root (docker-style).
script = f"""
set -e
mount --bind {mem}/leaf /sys/fs/cgroup/memory
mount --bind {cpu}/leaf /sys/fs/cgroup/cpu
cat /proc/self/cgroup > {out}/container_cgroup
cat /proc/self/mountinfo > {out}/container_mountinfo
"""
subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], check=True)
root = os.path.join(out, "v1_container")
os.makedirs(root + "/proc/self")
shutil.move(out + "/container_cgroup", root + "/proc/self/cgroup")
shutil.move(out + "/container_mountinfo", root + "/proc/self/mountinfo")
for name in ("memory.limit_in_bytes", "memory.usage_in_bytes", "memory.stat"):
    copy(f"{mem}/leaf/{name}", "v1_container", f"/sys/fs/cgroup/memory/{name}")
for name in ("cpu.cfs_quota_us", "cpu.cfs_period_us"):
    copy(f"{cpu}/leaf/{name}", "v1_container", f"/sys/fs/cgroup/cpu/{name}")
# 3. only cgroup2 mounted, in a cgroup namespace (a container on this host with cgroupns=private).
script = f"""
set -e
umount -R /sys/fs/cgroup
mount -t cgroup2 none /sys/fs/cgroup
cat /proc/self/cgroup > {out}/v2_cgroup
cat /proc/self/mountinfo > {out}/v2_mountinfo
cp /sys/fs/cgroup/memory.pressure /sys/fs/cgroup/cgroup.controllers /sys/fs/cgroup/cpu.stat {out}/
"""
subprocess.run(["unshare", "-m", "-C", "--propagation", "private", "sh", "-c", script], check=True)
root = os.path.join(out, "v2_namespace")
os.makedirs(root + "/proc/self")
os.makedirs(root + "/sys/fs/cgroup")
shutil.move(out + "/v2_cgroup", root + "/proc/self/cgroup")
shutil.move(out + "/v2_mountinfo", root + "/proc/self/mountinfo")
for name in ("memory.pressure", "cgroup.controllers", "cpu.stat"):
    shutil.move(f"{out}/{name}", f"{root}/sys/fs/cgroup/{name}")
os.remove(cache)
for name in ("v1_container", "v2_namespace"):
    path = os.path.join(out, name, "proc/self/mountinfo")
    with open(path) as f:
        text = "".join(line for line in f if " /mnt/" not in line)
    with open(path, "w") as f:
        f.write(text)
PYEOF
find "$OUT" -type f | sort
