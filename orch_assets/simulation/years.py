"""The years of one simulation as repeated dbt commands of ``GatedDbtCliResource`` in one step.

Every year is ``dbt build --vars {simulation_year: Y, ...}`` through the resource's public
``cli(...)``: the step's dbt worker imports dbt and parses the project once, the resource gates
each year's models by class and the live cap (the run's limits, shared with every gated dbt
command of the run), and the simulation's bookkeeping between years runs in the same worker
(:mod:`orch_assets.simulation.in_worker`) on the database dbt has open. A year's dbt events are
held until its results are read, so that the snapshot and summary materializations carry the
year's headcount, compensation and row count; the final year's events become the step's outputs,
earlier years' materializations.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

from orch_assets.dbt import GatedDbtCliResource
from orch_assets.simulation.events import dbt_node_events
from orch_assets.simulation.node_timings import NodeTimingBook
from orch_assets.simulation.results import YearResults, simulation_fingerprint, years_table

IN_WORKER = "orch_assets.simulation.in_worker"
RESULT_EVENTS = frozenset({"LogModelResult", "LogSeedResult", "LogSnapshotResult", "LogTestResult"})
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})
# Failures that are not the project's: CPython 3.10/3.11 can raise this while dbt's threads
# compile Jinja templates at once (python/cpython#106905); the same build then succeeds. A year
# that fails with one of them is built once more, in the same worker, before it counts as failed.
TRANSIENT_ERRORS = ("AST constructor recursion depth mismatch",)

Context = dg.OpExecutionContext | dg.AssetExecutionContext


def transient_error(texts: Sequence[str]) -> str | None:
    """The known transient failure among a failed build's messages, if any."""
    return next((known for known in TRANSIENT_ERRORS if any(known in t for t in texts)), None)


class YearFailedError(Exception):
    """A year's build failed (later years were not run)."""

    def __init__(self, year: int, message: str) -> None:
        super().__init__(message)
        self.year = year


@dataclass
class YearPlan:
    """What the simulation's dbt commands need, beside the resource."""

    years: list[int]
    threads: int
    vars: Mapping[str, Any]
    database_path: Path
    lock_wait_seconds: float
    publish: Mapping[str, Any] | None
    select: Sequence[str] = ()
    exclude: Sequence[str] = ()
    later_years_exclude: Sequence[str] = ()
    year_started_sql: Sequence[str] = ()
    year_completed_sql: Sequence[str] = ()
    summary_queries: Mapping[str, str] = field(default_factory=dict)
    row_counts: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)

    def build_args(self, index: int, year: int) -> list[str]:
        """One year's ``dbt build``. Selections are one space-separated value per flag, the
        form dagster-dbt's ``cli()`` takes them in."""
        args = ["build", "--threads", str(self.threads)]
        # dbt.log beside the simulation's database, at info level (each node's result): the
        # debug level (every statement) costs the worker noticeably more CPU.
        log_path = str(self.database_path.parent / "dbt_logs")
        args += ["--log-path", log_path, "--log-level-file", "info", "--no-use-colors"]
        if self.select:
            args += ["--select", " ".join(self.select)]
        # Unit tests check model logic on fixed rows, the same in every simulation: they run in
        # development and CI (tests/test_dbt/test_unit_tests.py), as dbt Labs advises for
        # production builds, not in each simulation's first year.
        args += ["--exclude-resource-type", "unit_test"]
        exclude = list(self.exclude)
        if index:
            # Seeds do not depend on the year, nor do the models built once per simulation (a
            # rule over their dbt config, selection.py): built and tested in the first year only.
            # "cautious" drops the tests whose every parent is excluded and keeps those that
            # also read a model built every year.
            args.append("seed")
            if self.later_years_exclude:
                exclude += self.later_years_exclude
                args += ["--indirect-selection", "cautious"]
        if exclude:
            args += ["--exclude", " ".join(exclude)]
        return [*args, "--vars", json.dumps({**self.vars, "simulation_year": year})]


@dataclass
class _YearOutcome:
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


class SimulationYears:
    """Runs the plan's years through ``dbt`` and yields the step's asset events."""

    def __init__(
        self,
        context: Context,
        dbt: GatedDbtCliResource,
        plan: YearPlan,
        manifest: Mapping[str, Any],
        translator: DagsterDbtTranslator,
        partition: str | None = None,
        emit_only: set[str] | None = None,
        kept_rows: Mapping[int, list[dict[str, Any]]] | None = None,
        timings: NodeTimingBook | None = None,
        timeline: tuple[Path, str, int] | None = None,
        result_keys: Sequence[dg.AssetKey] = (),
    ) -> None:
        self.context = context
        self.dbt = dbt
        self.plan = plan
        self.manifest = manifest
        self.translator = translator
        self.partition = partition
        self.emit_only = emit_only
        self.kept_rows = dict(kept_rows or {})
        self.timings = timings or NodeTimingBook(manifest)
        self.timeline = timeline
        self.result_keys = list(result_keys)
        self.results: list[YearResults] = []

    def _call(self, name: str, **kwargs: Any) -> Any:
        return self.dbt.call_in_worker(self.context, f"{IN_WORKER}:{name}", **kwargs)

    def _log_published(self, published: Sequence[Mapping[str, Any]] | None) -> None:
        for message in published or ():
            if message and (message["added"] or message["removed"]):
                self.context.log.info(
                    f"Results in {message['results_dir']}: published {message['added']}, "
                    f"removed {message['removed']}"
                )

    def events(self) -> Iterator[dg.Output | dg.AssetMaterialization]:
        plan, log = self.plan, self.context.log
        opened = self._call(
            "open_database", database_path=str(plan.database_path),
            lock_wait_seconds=plan.lock_wait_seconds,
            publish_spec=dict(plan.publish) if plan.publish else None, years=plan.years,
        )  # fmt: skip
        for wait in opened["waits"]:
            log.info(f"Database held by pid {wait['pid']} ({wait['program']}), e.g. a reader; "
                     f"waiting up to {plan.lock_wait_seconds:g} s (waited "
                     f"{wait['waited_seconds']} s)")  # fmt: skip
        self._log_published([opened["published"]])
        finished = False
        try:
            for index, year in enumerate(plan.years):
                log.info(f"Year {year} ({index + 1}/{len(plan.years)})")
                self._call("year_started", year=year, statements=list(plan.year_started_sql))
                outcome, seconds, success = self._build(index, year)
                counts = ", ".join(f"{k} {v}" for k, v in sorted(outcome.counts.items()))
                if not success:
                    log.info(f"Year {year} FAILED in {seconds} s: {counts}")
                    raise YearFailedError(year, _failure_message(year, outcome))
                done = self._call(
                    "year_completed", year=year, statements=list(plan.year_completed_sql),
                    summary_queries=dict(plan.summary_queries),
                    row_counts={k: dict(v) for k, v in plan.row_counts.items()},
                )  # fmt: skip
                self._log_published(done["published"])
                yield from self._year_events(YearResults.from_message({"year": year, **done}),
                                             outcome.events)  # fmt: skip
                log.info(f"Year {year} done in {seconds} s: {counts}")
            finished = True
        finally:
            # Earlier years' publications end whole even after a failed year; a worker that
            # died (killed, crashed) has nothing left to finish.
            if self.dbt.worker_pid(self.context) is not None:
                try:
                    self._log_published(self._call("finish")["published"])
                except Exception:
                    if finished:
                        raise

    def _build(self, index: int, year: int) -> tuple[_YearOutcome, float, bool]:
        """The year's build (once more after a known transient failure): what it did, its
        seconds, whether it succeeded."""
        for attempt in (1, 2):
            outcome = _YearOutcome()
            started = time.perf_counter()
            invocation = self.dbt.cli(
                self.plan.build_args(index, year), raise_on_error=False, manifest=self.manifest,
                dagster_dbt_translator=self.translator, run_context=self.context,
                target_path=self.plan.database_path.parent / "dbt_target",
            )  # fmt: skip
            for event in invocation.stream_raw_events():
                self._observe(event.raw_event, year, outcome)
            success = invocation.is_successful()
            seconds = round(time.perf_counter() - started, 3)
            self.timings.add({"year": year, "seconds": seconds, "timings": invocation.node_timings})
            if success:
                return outcome, seconds, True
            outcome.failures = _failed_nodes(invocation) or outcome.failures
            known = transient_error([*outcome.failures, *outcome.errors])
            if known is None or attempt == 2:
                return outcome, seconds, False
            self.context.log.warning(
                f"Year {year}: dbt failed with a known CPython race ({known!r}, "
                "python/cpython#106905), not a fault of the project; building the year again"
            )
        raise AssertionError("unreachable")

    def _observe(self, raw: dict[str, Any], year: int, outcome: _YearOutcome) -> None:
        info, data = raw.get("info", {}), raw.get("data", {})
        name, level = info.get("name"), info.get("level")
        if name in RESULT_EVENTS:
            node = data.get("node_info", {})
            status = str(node.get("node_status") or data.get("status") or "").lower()
            resource_type = node.get("resource_type") or node.get("unique_id", "").split(".")[0]
            outcome.counts[f"{resource_type}:{status}"] += 1
            if status in FAILED_STATUSES:
                outcome.failures.append(f"{node.get('unique_id')} ({status})")
            if self.emit_only is None or node.get("node_name") in self.emit_only:
                outcome.events.append(raw)
        if level == "error":
            outcome.errors.append(" ".join(str(info.get("msg") or "").split()))
        # Passing tests are counted in "Year Y done"; one log line each would be ~100 a year.
        if (name in RESULT_EVENTS and name != "LogTestResult") or level in ("warn", "error"):
            emit = (
                self.context.log.warning if level in ("warn", "error") else self.context.log.debug
            )
            emit(f"[{year}] {info.get('msg')}")

    def _year_events(
        self, year: YearResults, raw_events: list[dict[str, Any]]
    ) -> Iterator[dg.Output | dg.AssetMaterialization]:
        self.results.append(year)
        final = year.year == self.plan.years[-1]
        metadata: dict[str, Any] = year.metadata()
        if final:
            metadata["years"] = years_table(self.results)
            # Every stored year: the ones this run computed and the ones it kept.
            metadata["orch/fingerprint"] = simulation_fingerprint(
                {**self.kept_rows, **{r.year: r.fingerprint_rows for r in self.results}}
            )
        if final and self.timeline is not None and self.timings.years:
            metadata.update(self.timings.timeline_metadata(*self.timeline))
        extra = dict.fromkeys(self.result_keys, metadata)
        for raw in raw_events:
            unique_id = raw.get("data", {}).get("node_info", {}).get("unique_id", "")
            node_metadata = {
                **self.timings.node_metadata(year.year, unique_id),
                **year.row_count_metadata(unique_id),
            }
            yield from dbt_node_events(
                self.context, self.manifest, self.translator, raw, year.year, final, extra,
                self.partition, node_metadata,
            )  # fmt: skip


def _failed_nodes(invocation: Any) -> list[str]:
    """``unique_id (status): message`` of each failed node, from dbt's run_results.json."""
    try:
        results = invocation.get_artifact("run_results.json")["results"]
    except (OSError, KeyError, ValueError):
        return []
    return [
        f"{r['unique_id']} ({r['status']}): {' '.join(str(r.get('message') or '').split())}"
        for r in results
        if r.get("status") in FAILED_STATUSES
    ]


def _failure_message(year: int, outcome: _YearOutcome) -> str:
    lines = outcome.failures or outcome.errors
    detail = "\n".join(f"  - {line}" for line in lines[:20])
    more = f"\n  ... and {len(lines) - 20} more" if len(lines) > 20 else ""
    return f"dbt build failed for simulation year {year}; later years were not run." + (
        f"\nFailed dbt nodes:\n{detail}{more}" if lines else ""
    )
