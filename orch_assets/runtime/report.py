"""The runtime report: which runs it covers, its table, recommendation, determinism and chart."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from orch_assets.runtime.chart import render_chart
from orch_assets.runtime.determinism import DeterminismResult, check_determinism
from orch_assets.runtime.evidence import Evidence, assess
from orch_assets.runtime.recommend import Recommendation, recommend
from orch_assets.runtime.store import RuntimeRow, RuntimeTable
from orch_assets.runtime.summary import ConfigurationSummary, summarize

MIB = 1024**2


@dataclass(frozen=True)
class Selection:
    """The runs a report covers and how they were chosen."""

    label: str
    slug: str
    rows: tuple[RuntimeRow, ...]


def select_runs(table: RuntimeTable, sweep_id: str | None = None) -> Selection | None:
    """The runs of ``sweep_id``; unset: of the latest sweep; no sweep yet: all runs with the
    inputs of the latest successful fingerprinted run. ``None`` when there is nothing to report."""
    sweep_id = sweep_id or table.latest_sweep_id()
    if sweep_id:
        rows = table.rows("sweep_id = ?", [sweep_id])
        return Selection(f"sweep {sweep_id}", f"sweep_{sweep_id}", tuple(rows)) if rows else None
    latest = table.rows("status = 'success' and fingerprint is not null")
    if not latest:
        return None
    key = max(latest, key=lambda r: r.ended_at or r.run_updated_at).inputs_key
    rows = table.rows("inputs_key = ?", [key])
    return Selection(f"runs with inputs {key[:12]}", f"inputs_{key[:12]}", tuple(rows))


@dataclass(frozen=True)
class Report:
    selection: Selection
    summaries: tuple[ConfigurationSummary, ...]
    evidence: Evidence
    recommendation: Recommendation | None
    determinism: DeterminismResult
    chart_path: Path | None

    @property
    def workload(self) -> tuple[int, int] | None:
        """(employees, years) when every successful run shares them."""
        found = {
            (r.n_employees, r.n_years)
            for r in self.selection.rows
            if r.status == "success" and r.n_employees and r.n_years
        }
        return found.pop() if len(found) == 1 else None

    def title(self) -> str:
        runs = len(self.selection.rows)
        workload = self.workload
        size = (
            f", {workload[0]} employees x {workload[1]} year{'s' if workload[1] != 1 else ''}"
            if workload
            else ""
        )
        return f"Runtime report: {self.selection.label} ({runs} runs{size})"

    def markdown_table(self) -> str:
        header = (
            "| configuration | runs | median wall s | min-max s | speedup | speedup/thread "
            "| parallel eff. | peak RSS MiB | CPU % | fingerprint |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
        )
        return header + "\n".join(
            f"| {s.configuration}{' **(recommended)**' if self._is_chosen(s) else ''} "
            f"| {s.n_runs} | {s.median_wall_seconds:.2f} "
            f"| {s.min_wall_seconds:.2f}-{s.max_wall_seconds:.2f} | {_fmt(s.speedup, '.2f')}x "
            f"| {_fmt(s.speedup_per_thread, '.2f')} | {_fmt(s.median_parallel_efficiency, '.2f')} "
            f"| {_fmt(s.peak_rss_bytes and s.peak_rss_bytes / MIB, '.0f')} "
            f"| {_fmt(s.median_cpu_percent, '.0f')} "
            f"| {', '.join(sorted(f[:12] for f in s.fingerprints)) or 'n/a'} |"
            for s in self.summaries
        )

    def _is_chosen(self, summary: ConfigurationSummary) -> bool:
        return self.recommendation is not None and self.recommendation.chosen is summary

    def recommendation_text(self) -> str:
        if not self.evidence.enough:
            return (
                f"None, {self.evidence.missing}. To get the evidence, run: "
                f"`{self.evidence.sweep_command}`"
            )
        if self.recommendation is None:
            return "None: no configuration with enough runs fits the memory budget."
        text = f"{self.recommendation.chosen.configuration}: {self.recommendation.reason()}"
        few = [s for s in self.summaries if s not in self.evidence.qualified]
        if few:
            text += "; too few runs to compete: " + ", ".join(s.configuration for s in few)
        return text

    def failed_runs(self) -> list[RuntimeRow]:
        return [r for r in self.selection.rows if r.status != "success"]

    def markdown(self, chart_markdown: str = "") -> str:
        failed = self.failed_runs()
        parts = [
            f"### {self.title()}",
            self.markdown_table(),
            f"**Recommended:** {self.recommendation_text()}",
            f"**Determinism:** {self.determinism.statement()}",
        ]
        if failed:
            parts.append(
                "**Not counted (did not succeed):** "
                + ", ".join(f"{r.run_id} ({r.configuration}, {r.status})" for r in failed)
            )
        if chart_markdown:
            parts.append(chart_markdown)
        if self.chart_path is not None:
            parts.append(f"Chart: `{self.chart_path}`")
        return "\n\n".join(parts)


def _fmt(value: float | int | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def build_report(
    selection: Selection,
    charts_dir: Path,
    memory_budget_bytes: int,
    tie_tolerance: float,
) -> Report:
    """Summaries, recommendation and determinism of ``selection``; its chart in ``charts_dir``."""
    summaries = tuple(summarize(selection.rows))
    evidence = assess(summaries, selection.rows)
    recommendation = (
        recommend(evidence.qualified, memory_budget_bytes, tie_tolerance)
        if evidence.enough
        else None
    )
    determinism = check_determinism(selection.rows)
    report = Report(selection, summaries, evidence, recommendation, determinism, None)
    if len(summaries) < 2:
        return report  # a chart of one configuration compares nothing
    path = charts_dir / f"runtime_{re.sub(r'[^A-Za-z0-9_.-]', '_', selection.slug)}.png"
    render_chart(summaries, path, report.title(), recommendation.chosen if recommendation else None)
    return Report(selection, summaries, evidence, recommendation, determinism, path)


def rows_for_determinism(table: RuntimeTable) -> Sequence[RuntimeRow]:
    return table.rows("status = 'success' and fingerprint is not null")
