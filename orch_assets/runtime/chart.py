"""The report chart: median runtime and speedup against dbt threads, as a PNG.

Drawn on a bare ``Figure`` with the Agg canvas (no pyplot, no global backend), so it renders in
any process, without a display and in threads. matplotlib (and numpy under it) is imported when a
chart is drawn, not with the code location, whose import every CLI start and run process pays.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from orch_assets.runtime.summary import ConfigurationSummary

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(figsize: tuple[float, float], dpi: int) -> Figure:
    """A bare figure on the Agg canvas (imports matplotlib on first use)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def _series(summaries: Sequence[ConfigurationSummary]) -> dict[str, list[ConfigurationSummary]]:
    """One line per executor setting (mode/max_concurrent), points along dbt threads."""
    lines: dict[str, list[ConfigurationSummary]] = {}
    for s in summaries:
        if s.dbt_threads is None:
            continue
        name = (
            "default executor"
            if s.executor_mode is None
            else f"{s.executor_mode}/{s.max_concurrent}"
        )
        lines.setdefault(name, []).append(s)
    return {
        name: sorted(points, key=lambda s: s.dbt_threads or 0) for name, points in lines.items()
    }


def render_chart(
    summaries: Sequence[ConfigurationSummary],
    path: Path,
    title: str,
    recommended: ConfigurationSummary | None = None,
) -> Path:
    """Writes the PNG to ``path`` and returns it."""
    figure = new_figure((9, 3.6), 90)
    runtime, speedup = figure.subplots(1, 2)
    threads_seen: set[int] = set()
    for name, points in _series(summaries).items():
        xs = [s.dbt_threads for s in points]
        threads_seen.update(x for x in xs if x is not None)
        medians = [s.median_wall_seconds for s in points]
        errors = [
            [s.median_wall_seconds - s.min_wall_seconds for s in points],
            [s.max_wall_seconds - s.median_wall_seconds for s in points],
        ]
        runtime.errorbar(xs, medians, yerr=errors, marker="o", capsize=4, label=name)
        speedup.plot(xs, [s.speedup for s in points], marker="o", label=name)
    if recommended is not None and recommended.dbt_threads is not None:
        runtime.scatter(
            [recommended.dbt_threads], [recommended.median_wall_seconds], s=220,
            facecolors="none", edgecolors="crimson", linewidths=2, label="recommended", zorder=3,
        )  # fmt: skip
    ticks = sorted(threads_seen)
    if ticks:
        ideal = [t / ticks[0] for t in ticks]
        speedup.plot(ticks, ideal, linestyle=":", color="grey", label="ideal")
        speedup.axhline(1.0, color="grey", linewidth=0.8)
    labels = ((runtime, "median wall (s), min-max bars"), (speedup, "speedup vs fewest threads"))
    for axis, label in labels:
        axis.set_xlabel("dbt threads")
        axis.set_ylabel(label)
        axis.set_xticks(ticks)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    runtime.set_ylim(bottom=0)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def png_markdown(path: Path, alt: str = "runtime chart") -> str:
    """Markdown that shows the PNG inline (base64 data URI), as the asset metadata viewer needs."""
    encoded = base64.b64encode(path.read_bytes()).decode()
    return f"![{alt}](data:image/png;base64,{encoded})"
