"""The critical path and the timeline chart, from recorded node timings (no dbt needed)."""

from __future__ import annotations

from pathlib import Path

from orch_assets.dbt.timeline import (
    YearTimeline,
    critical_path_lines,
    render_timeline,
    timeline_lanes,
)


def _timing(uid: str, start: float, end: float, thread: str, cls: str | None) -> dict:
    return {"unique_id": uid, "start": start, "end": end, "ready": start, "thread": thread,
            "execution_class": cls, "wait_s": 0.0}  # fmt: skip


YEAR = YearTimeline(
    2025,
    [
        _timing("model.p.a", 100.0, 101.0, "T1", "parallel_safe"),
        _timing("model.p.c", 100.0, 102.5, "T2", "parallel_safe"),
        _timing("model.p.b", 101.0, 103.0, "T1", "sequential"),
        _timing("test.p.not_null_c", 102.5, 102.7, "T2", None),
    ],
    wall_seconds=3.4,
)
PARENTS = {"model.p.b": ["model.p.a"], "test.p.not_null_c": ["model.p.c"]}


def test_the_critical_path_is_the_longest_chain_of_measured_times_through_the_dag() -> None:
    seconds, chain = YEAR.critical_path(PARENTS)
    assert chain == ["model.p.a", "model.p.b"]
    assert seconds == 3.0
    assert critical_path_lines([YEAR], PARENTS) == {2025: "critical path 3.00 s of 3.40 s"}


def test_the_timeline_is_a_png_with_one_band_per_year(tmp_path: Path) -> None:
    path = render_timeline([YEAR, YEAR], PARENTS, tmp_path / "t.png", "title")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_chart_has_one_lane_per_dbt_thread_of_the_build() -> None:
    one_lane_used = YearTimeline(2026, [{**YEAR.timings[0], "lane": 1}], wall_seconds=1.0)

    assert timeline_lanes([one_lane_used], threads=4) == 4
    assert timeline_lanes([YEAR, one_lane_used], threads=1) == 1
