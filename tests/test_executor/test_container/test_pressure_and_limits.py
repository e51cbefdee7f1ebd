"""The cap policy with cgroup readings and memory pressure; the limits notice and its fallback."""

from pathlib import Path

import pytest

from orch_assets.executor.capacity import (
    GIB,
    CapPolicy,
    CapState,
    Reading,
    decide_cap,
    with_container,
)
from orch_assets.executor.container import ContainerProbe, ContainerSample, MemoryLimit, Pressure
from orch_assets.executor.monitor import limits_notice

FIXTURES = Path(__file__).parent / "fixtures"
SOURCE = "cgroup v1 /kubepods/pod1 (memory.limit_in_bytes)"


def policy(pressure_pause: float | None = 10.0) -> CapPolicy:
    return CapPolicy(8, 80, 70, 0.5, None, 2, memory_pressure_pause=pressure_pause)


def host_reading() -> Reading:
    return Reading(20.0, 18 * GIB, 10.0, int(0.2 * GIB), 0.0, 0.0)


def cgroup(limit_gib: float, working_set_gib: float, pressure: float | None) -> ContainerSample:
    return ContainerSample(
        memory=MemoryLimit(int(limit_gib * GIB), int(working_set_gib * GIB), 0, SOURCE),
        pressure=Pressure(pressure, "cgroup v2 /pod1 memory.pressure")
        if pressure is not None
        else None,
    )


def test_the_tighter_of_host_and_cgroup_is_read_and_named() -> None:
    reading = with_container(host_reading(), cgroup(1.7, 0.3, 0.0))
    assert reading.available_bytes == int(1.7 * GIB) - int(0.3 * GIB)
    assert (reading.memory_source, reading.available_source) == ("host", SOURCE), (
        "20% used on the host is more than 17.6% of the cgroup"
    )
    assert f"1.40 GiB available in {SOURCE}" in reading.describe()
    decision = decide_cap(policy(), reading, CapState())
    assert decision.cap == 2, "1.4 GiB fits two steps of 0.5 GiB, the host's 18 GiB would fit 8"


def test_a_cgroup_without_a_limit_leaves_the_host_reading() -> None:
    reading = with_container(host_reading(), ContainerSample(memory=None, pressure=None))
    assert reading == host_reading()


@pytest.mark.parametrize(
    ("pressure_pause", "pressure", "cap"),
    [(10.0, 12.5, 1), (10.0, 10.0, 1), (10.0, 9.9, 8), (None, 50.0, 8), (10.0, None, 8)],
    ids=["above", "at", "below", "pause-off", "no-psi"],
)
def test_memory_pressure_at_the_threshold_drops_the_cap_to_one(
    pressure_pause: float | None, pressure: float | None, cap: int
) -> None:
    reading = with_container(host_reading(), cgroup(64, 1, pressure))
    decision = decide_cap(policy(pressure_pause), reading, CapState())
    assert decision.cap == cap
    if cap == 1:
        assert decision.reasons == (
            f"memory pressure some avg10 {pressure:.2f}% >= memory_pressure_pause 10% "
            "(cgroup v2 /pod1 memory.pressure)",
        )


def test_the_limits_notice_names_the_cgroup_of_a_captured_nested_layout() -> None:
    probe = ContainerProbe(fs_root=FIXTURES / "hybrid_nested")
    notice = limits_notice(probe, probe.cpu_limit(64))
    assert notice.message.startswith("Limits: cgroup layout hybrid: memory limit 1.00 GiB from ")
    assert "orch_capture (memory.limit_in_bytes)" in notice.message
    assert "CPUs 1 from the CPU quota 0.5 of cgroup v1 /orch_capture" in notice.message
    assert notice.metadata["memory_limit_bytes"] == 1073741824


@pytest.mark.parametrize("files", [{}, {"proc/self/cgroup": "", "proc/self/mountinfo": ""}],
                         ids=["unreadable", "no-cgroup-mount"])  # fmt: skip
def test_unreadable_cgroups_fall_back_to_the_host_and_say_so(
    tmp_path: Path, files: dict[str, str]
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    probe = ContainerProbe(fs_root=tmp_path)
    notice = limits_notice(probe, probe.cpu_limit(4))
    assert notice.message.startswith("No cgroup readings (")
    assert "the live cap uses the host's memory" in notice.message
    assert notice.metadata["limits_source"] == "host"
