"""Cgroup layouts parsed from copies of real kernel files (see fixtures/README.md)."""

import os
import shutil
from pathlib import Path

import pytest

from orch_assets.executor.cgroups import locate, locate_self, parse_mountinfo, parse_proc_cgroup
from orch_assets.executor.container import (
    ContainerProbe,
    parse_pressure_some_avg10,
    read_cpu_limit,
)

FIXTURES = Path(__file__).parent / "fixtures"
NESTED_MEMORY = "/process_api/8f3bb521b29ae798c497786ede526206/orch_capture"
AFFINITY = len(os.sched_getaffinity(0))


def probe(name: str) -> ContainerProbe:
    return ContainerProbe(fs_root=FIXTURES / name)


def test_a_hybrid_host_with_nested_cgroups_reads_the_tightest_ancestor() -> None:
    found = probe("hybrid_nested")
    assert found.layout is not None and found.layout.layout == "hybrid"
    assert found.layout.memory is not None and found.layout.memory.version == 1
    assert found.layout.memory.cgroup_path == f"{NESTED_MEMORY}/leaf"
    assert found.layout.unified is not None
    assert (
        found.layout.unified.directory
        == FIXTURES / "hybrid_nested/sys/fs/cgroup/unified/orch_capture/leaf"
    )

    sample = found.sample()
    memory = sample.memory
    assert memory is not None
    assert memory.limit_bytes == 1073741824, "the parent's 1 GiB, not the leaf's 1.7 GB"
    assert memory.source == f"cgroup v1 {NESTED_MEMORY} (memory.limit_in_bytes)"
    assert memory.usage_bytes == 279961600
    assert memory.inactive_file_bytes == 67108864, "total_inactive_file: the hierarchy's cache"
    assert memory.working_set_bytes == 279961600 - 67108864
    assert memory.available_bytes == 1073741824 - memory.working_set_bytes
    assert sample.pressure is not None
    assert sample.pressure.source == "cgroup v2 /orch_capture/leaf memory.pressure"

    cpu = found.cpu_limit(64)
    assert cpu.quota_cpus == 0.5 and cpu.cpus == 1
    assert cpu.source == "the CPU quota 0.5 of cgroup v1 /orch_capture", "the parent's quota"


def test_a_container_bind_mount_hides_the_host_mount_and_its_root_is_the_cgroup() -> None:
    found = probe("v1_container")
    assert found.layout is not None and found.layout.memory is not None
    assert found.layout.memory.directory == FIXTURES / "v1_container/sys/fs/cgroup/memory"
    memory = found.sample().memory
    assert memory is not None
    assert memory.limit_bytes == 1699999744, "1.7 GB in pages; the parent is above the root"
    assert memory.source == f"cgroup v1 {NESTED_MEMORY}/leaf (memory.limit_in_bytes)"
    cpu = found.cpu_limit(64)
    assert cpu.quota_cpus is None, "cfs_quota_us -1 is no quota"
    assert cpu.cpus == AFFINITY


def test_missing_pressure_files_give_no_pressure_reading() -> None:
    assert probe("v1_container").sample().pressure is None


def test_a_v2_namespace_reads_pressure_at_its_root_and_no_memory_limit_without_the_controller() -> (
    None
):
    found = probe("v2_namespace")
    assert found.layout is not None and found.layout.layout == "v2"
    assert found.layout.memory is None, "cgroup.controllers (captured) is empty on this host"
    sample = found.sample()
    assert sample.memory is None
    assert sample.pressure is not None and sample.pressure.source == "cgroup v2 / memory.pressure"


def _v2_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """The captured v2 namespace with a nested cgroup and the given v2 controller files."""
    root = tmp_path / "v2"
    shutil.copytree(FIXTURES / "v2_namespace", root)
    (root / "proc/self/cgroup").write_text("0::/pod/ctr\n")
    (root / "sys/fs/cgroup/cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    for name, text in files.items():
        path = root / "sys/fs/cgroup" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


STAT = (
    "anon 200000000\nfile 70000000\ninactive_anon 0\nactive_anon 200000000\n"
    "inactive_file 60000000\nactive_file 10000000\n"
)


@pytest.mark.parametrize(
    ("files", "limit", "source"),
    [
        (
            {"pod/memory.max": "2000000000\n", "pod/memory.current": "300000000\n",
             "pod/memory.stat": STAT, "pod/ctr/memory.max": "max\n",
             "pod/ctr/memory.current": "290000000\n", "pod/ctr/memory.stat": STAT},
            2000000000, "cgroup v2 /pod (memory.max)",
        ),
        (
            {"pod/memory.max": "max\n", "pod/ctr/memory.max": "1700000000\n",
             "pod/ctr/memory.current": "290000000\n", "pod/ctr/memory.stat": STAT},
            1700000000, "cgroup v2 /pod/ctr (memory.max)",
        ),
        ({"pod/memory.max": "max\n", "pod/ctr/memory.max": "max\n"}, None, None),
        ({"pod/ctr/memory.max": "1700000000\n"}, None, None),
    ],
    ids=["parent-limit", "leaf-limit", "max-everywhere", "usage-file-missing"],
)  # fmt: skip
def test_v2_memory_max_of_the_cgroup_or_an_ancestor_with_max_and_missing_files(
    tmp_path: Path, files: dict[str, str], limit: int | None, source: str | None
) -> None:
    found = probe_at(_v2_tree(tmp_path, files))
    assert found.layout is not None and found.layout.memory is not None
    memory = found.sample().memory
    if limit is None:
        assert memory is None
        return
    assert memory is not None
    assert (memory.limit_bytes, memory.source) == (limit, source)
    assert memory.inactive_file_bytes == 60000000


def probe_at(root: Path) -> ContainerProbe:
    return ContainerProbe(fs_root=root)


@pytest.mark.parametrize(
    ("cpu_max", "quota"),
    [("150000 100000\n", 1.5), ("max 100000\n", None), ("", None)],
    ids=["quota-1.5", "max", "empty"],
)
def test_v2_cpu_max_is_rounded_up_and_max_is_no_quota(
    tmp_path: Path, cpu_max: str, quota: float | None
) -> None:
    found = probe_at(_v2_tree(tmp_path, {"pod/ctr/cpu.max": cpu_max}))
    assert found.layout is not None
    cpu = read_cpu_limit(found.layout.cpu, 64)
    assert cpu.quota_cpus == quota
    assert cpu.cpus == min(AFFINITY, 2 if quota else 64)


def test_an_unreadable_proc_gives_an_error_and_no_readings(tmp_path: Path) -> None:
    found = ContainerProbe(fs_root=tmp_path)
    assert found.layout is None
    assert found.error is not None and "cannot read /proc/self/cgroup" in found.error
    sample = found.sample()
    assert sample.memory is None and sample.pressure is None
    assert found.cpu_limit(8).cpus == min(8, AFFINITY)


def test_a_cgroup_outside_the_mount_root_is_not_resolved() -> None:
    mountinfo = "41 31 0:38 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    layout = locate("0::/system.slice/other\n", mountinfo, Path("/nonexistent"))
    assert layout.unified is None and layout.layout == "none"


def test_proc_cgroup_lines_and_escaped_mount_points_parse() -> None:
    assert parse_proc_cgroup("1:cpu,cpuacct:/a\n9:name=systemd:/b\n0::/c\n") == {
        "cpu": "/a", "cpuacct": "/a", "systemd": "/b", "": "/c",
    }  # fmt: skip
    (mount,) = parse_mountinfo("35 31 0:32 / /sys/fs/my\\040cgroup rw - cgroup cgroup rw,memory\n")
    assert mount.mount_point == "/sys/fs/my cgroup" and "memory" in mount.super_options


def test_pressure_lines_parse() -> None:
    text = (FIXTURES / "hybrid_nested/proc/pressure/memory").read_text()
    assert parse_pressure_some_avg10(text) == 0.0
    assert parse_pressure_some_avg10("some avg10=12.50 avg60=3.00 avg300=1.00 total=9\n") == 12.5
    assert parse_pressure_some_avg10("") is None


def test_this_process_is_located_on_this_machine() -> None:
    layout = locate_self()
    assert layout.layout in ("v1", "v2", "hybrid")
    assert (layout.memory or layout.unified) is not None
