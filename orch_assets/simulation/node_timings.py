"""The step's record of node timings: metadata per model and year, the timeline, the history."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from orch_assets.dbt.node_metadata import node_metadata, parents_of, timeline_metadata
from orch_assets.dbt.timeline import YearTimeline
from orch_assets.runtime.model_times import model_times_table, record_model_times


class NodeTimingBook:
    """Collects the worker's ``node_timings`` messages of one simulation."""

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        self.parents = parents_of(manifest)
        self.years: dict[int, YearTimeline] = {}
        self._by_node: dict[tuple[int, str], Mapping[str, Any]] = {}

    def add(self, message: Mapping[str, Any]) -> None:
        year = int(message["year"])
        self.years[year] = YearTimeline(year, message["timings"], float(message["seconds"]))
        for t in message["timings"]:
            self._by_node[(year, t["unique_id"])] = t

    def node_metadata(self, year: int, unique_id: str) -> dict[str, Any]:
        """Start, end, dbt thread, class and seconds waiting for a slot of one model in one year."""
        return node_metadata(self._by_node.get((year, unique_id)))

    def timeline_metadata(self, path: Path, title: str, threads: int = 1) -> dict[str, Any]:
        """The chart (inline and as a path) and each year's critical path, for the final event."""
        years = [self.years[y] for y in sorted(self.years)]
        return timeline_metadata(years, self.parents, path, title, threads)

    def record_or_warn(
        self,
        context: dg.OpExecutionContext | dg.AssetExecutionContext,
        simulation: str,
        n_employees: int,
        dbt_threads: int,
    ) -> None:
        """:meth:`record`; a busy or broken runtime database costs a warning, not the run."""
        try:
            count = self.record(
                context.instance,
                context.run.run_id,
                simulation,
                n_employees,
                dbt_threads,
            )
        except duckdb.Error as error:
            context.log.warning(f"Node times not recorded in the runtime history: {error}")
            return
        context.log.debug(f"Recorded {count} node times in the runtime history")

    def record(
        self,
        instance: dg.DagsterInstance,
        run_id: str,
        simulation: str,
        n_employees: int,
        dbt_threads: int,
    ) -> int:
        """Per-model times into the runtime history (table ``model_times``)."""
        per_year = {year: list(t.timings) for year, t in self.years.items()}
        return record_model_times(
            model_times_table(instance),
            run_id,
            simulation,
            n_employees,
            dbt_threads,
            per_year,
        )
