"""What a gated build reports per dbt node and per step: metadata keys, values, the timeline.

A node's timing is a mapping with ``unique_id``, ``execution_class``, ``thread``, ``ready``,
``start``, ``end`` (epoch seconds), ``lane`` (the build's thread, 1 ... threads) and ``wait_s``
(seconds waited for a class or cap slot), the shape of :attr:`orch_assets.dbt.GatedDbtCliInvocation.node_timings`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from orch_assets.dbt.timeline import YearTimeline, critical_path_lines, render_timeline
from orch_assets.runtime.chart import png_markdown

STARTED_AT_KEY = "orch/started_at"
ENDED_AT_KEY = "orch/ended_at"
DBT_THREAD_KEY = "orch/dbt_thread"
EXECUTION_CLASS_KEY = "orch/execution_class"
SLOT_WAIT_KEY = "orch/slot_wait_s"
TIMELINE_KEY = "orch/timeline"
TIMELINE_PATH_KEY = "orch/timeline_path"
CRITICAL_PATH_KEY = "orch/critical_path"


def node_metadata(timing: Mapping[str, Any] | None) -> dict[str, Any]:
    """Start, end, dbt thread, class and seconds waiting for a slot of one node."""
    if timing is None:
        return {}
    return {
        STARTED_AT_KEY: dg.MetadataValue.timestamp(timing["start"]),
        ENDED_AT_KEY: dg.MetadataValue.timestamp(timing["end"]),
        DBT_THREAD_KEY: timing.get("lane", 1),
        EXECUTION_CLASS_KEY: timing["execution_class"] or "",
        SLOT_WAIT_KEY: float(timing["wait_s"]),
    }


def parents_of(manifest: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        uid: list(props.get("depends_on", {}).get("nodes", []))
        for uid, props in manifest["nodes"].items()
    }


def timeline_metadata(
    builds: Sequence[YearTimeline],
    parents: Mapping[str, Sequence[str]],
    path: Path,
    title: str,
    threads: int = 1,
) -> dict[str, Any]:
    """The chart (inline and as a path, one lane per dbt thread of the build, 1 ... ``threads``)
    and each build's critical path."""
    render_timeline(builds, parents, path, title, threads)
    lines = critical_path_lines(builds, parents)
    text = "\n".join(f"- {band}: {line}" for band, line in lines.items())
    return {
        TIMELINE_KEY: dg.MetadataValue.md(f"{png_markdown(path, 'dbt timeline')}\n\n{text}"),
        TIMELINE_PATH_KEY: dg.MetadataValue.path(str(path)),
        CRITICAL_PATH_KEY: dg.MetadataValue.md(text),
    }
