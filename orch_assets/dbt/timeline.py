"""Where a simulation's time goes: per-year critical paths and a timeline chart of its dbt nodes.

A year's critical path is the longest chain of nodes through the dbt DAG by measured time: no
number of threads builds the year faster than it. The chart has one lane per dbt thread, one
colour per execution class (grey: tests and seeds), and one band per year, side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orch_assets.runtime.chart import new_figure

CLASS_COLOURS = {
    "sequential": "#d62728",
    "conditional": "#ff7f0e",
    "parallel_safe": "#1f77b4",
    None: "#b0b0b0",
}


@dataclass(frozen=True)
class YearTimeline:
    """One year's node timings (the worker's ``node_timings`` message) and its wall seconds."""

    year: int
    timings: Sequence[Mapping[str, Any]]
    wall_seconds: float

    def critical_path(self, parents: Mapping[str, Sequence[str]]) -> tuple[float, list[str]]:
        """Seconds and node ids of the longest chain of measured nodes through the DAG."""
        seconds = {t["unique_id"]: t["end"] - t["start"] for t in self.timings}
        best: dict[str, tuple[float, list[str]]] = {}
        for uid in sorted(seconds, key=lambda u: _start(self.timings, u)):
            before = [best[p] for p in parents.get(uid, []) if p in best]
            longest = max(before, key=lambda b: b[0], default=(0.0, []))
            best[uid] = (longest[0] + seconds[uid], [*longest[1], uid])
        return max(best.values(), key=lambda b: b[0], default=(0.0, []))


def _start(timings: Sequence[Mapping[str, Any]], uid: str) -> float:
    return next(t["start"] for t in timings if t["unique_id"] == uid)


def critical_path_lines(
    years: Sequence[YearTimeline], parents: Mapping[str, Sequence[str]]
) -> dict[int, str]:
    """Per year: "critical path X s of Y s" (Y: the year's build wall time)."""
    return {
        y.year: f"critical path {y.critical_path(parents)[0]:.2f} s of {y.wall_seconds:.2f} s"
        for y in years
    }


def timeline_lanes(years: Sequence[YearTimeline], threads: int) -> int:
    """The chart's lanes: the build's dbt threads, 1 ... ``threads`` (more if a build had more)."""
    return max([threads, *(t.get("lane", 1) for y in years for t in y.timings)])


def render_timeline(
    years: Sequence[YearTimeline],
    parents: Mapping[str, Sequence[str]],
    path: Path,
    title: str,
    threads: int = 1,
) -> Path:
    """Draws every year's nodes as bars (x: seconds since the year started) into ``path``, one
    lane per dbt thread of the build (a node's ``lane``), the same lanes every year."""
    from matplotlib.patches import Patch

    figure = new_figure((4 + 3.2 * max(1, len(years)), 4.2), 100)
    axes_list = figure.subplots(1, max(1, len(years)), sharey=True, squeeze=False)[0]
    lanes = timeline_lanes(years, threads)
    for axes, year in zip(axes_list, years, strict=False):
        origin = min((t["ready"] for t in year.timings), default=0.0)
        critical = set(year.critical_path(parents)[1])
        # One collection per lane: an artist per node made drawing most of a build's cost.
        by_lane: dict[int, list[Mapping[str, Any]]] = {}
        for t in year.timings:
            by_lane.setdefault(t.get("lane", 1), []).append(t)
        for lane, timings in by_lane.items():
            axes.broken_barh(
                [(t["start"] - origin, t["end"] - t["start"]) for t in timings],
                (lane - 1 - 0.4, 0.8),
                facecolors=[CLASS_COLOURS.get(t["execution_class"], CLASS_COLOURS[None])
                            for t in timings],
                edgecolors=["black" if t["unique_id"] in critical else "none" for t in timings],
                linewidth=1.2,
            )  # fmt: skip
        seconds, _ = year.critical_path(parents)
        axes.set_title(f"{year.year}\ncritical path {seconds:.1f} s of {year.wall_seconds:.1f} s",
                       fontsize=9)  # fmt: skip
        axes.set_xlabel("seconds")
    axes_list[0].set_yticks(range(lanes), [f"dbt thread {i + 1}" for i in range(lanes)])
    figure.legend(
        handles=[Patch(color=c, label=str(k or "test / seed")) for k, c in CLASS_COLOURS.items()]
        + [Patch(facecolor="white", edgecolor="black", label="critical path")],
        loc="lower center", ncol=5, fontsize=8,
    )  # fmt: skip
    figure.suptitle(title, fontsize=10)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
