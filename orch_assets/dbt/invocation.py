"""The handle of one gated dbt command: dagster-dbt's ``DbtCliInvocation`` plus what the gate saw.

``stream_raw_events()`` yields exactly dbt's events (the gate's own lines are consumed: a cap
change is logged to the step once, a node's admission is remembered); ``stream()`` yields
dagster-dbt's events, each model's with its timing (start, end, dbt thread, class, seconds
waited for a slot), and the last materialization with the build's timeline and critical path.
When the command ends, its node times go to the runtime history (``model_times``) and the run
gets the tag ``orch/dbt_threads``, so the sensor, the sweep and the report cover this build.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import dagster as dg
import duckdb
from dagster_dbt import DbtCliInvocation
from dagster_dbt.core.dbt_cli_event import DbtCliEventMessage
from dagster_dbt.core.dbt_event_iterator import DbtDagsterEventType

from orch_assets.dbt.gated_main import ADMITTED_EVENT, CAP_EVENT, CAP_POLL_S, write_cap
from orch_assets.dbt.node_metadata import node_metadata, parents_of, timeline_metadata
from orch_assets.dbt.timeline import YearTimeline
from orch_assets.runtime.model_times import model_times_table, record_model_times
from orch_assets.runtime.tags import DBT_THREADS

TIMELINE_FILE = "orch_timeline.png"
# dbt's "Concurrency: N threads" line: the threads the command actually ran with.
CONCURRENCY_EVENT = "ConcurrencyLine"


def _epoch(value: str | None) -> float | None:
    """dbt's naive-UTC ISO timestamps as epoch seconds."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def follow_cap(process: Any, target_path: Path, cap: Callable[[], int | None]) -> threading.Thread:
    """While ``process`` runs, writes ``cap()`` for it whenever the value changes."""

    def follow() -> None:
        sent: int | None = None
        while process.poll() is None:
            value = cap()
            if value is not None and value != sent:
                write_cap(target_path, value)
                sent = value
            time.sleep(CAP_POLL_S)

    thread = threading.Thread(target=follow, name="orch-dbt-cap", daemon=True)
    thread.start()
    return thread


def _import_chart_modules() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401


def warm_up_timeline() -> None:
    """Imports matplotlib in the background while dbt starts (seconds of dbt start-up; the
    import costs ~1-2 s), so that drawing the timeline at the end adds only the drawing."""
    threading.Thread(target=_import_chart_modules, name="orch-chart-import", daemon=True).start()


@dataclass
class GatedDbtCliInvocation(DbtCliInvocation):
    """A :class:`dagster_dbt.DbtCliInvocation` of a gated dbt command (see the module docstring).

    ``wait()``, ``get_artifact(...)``, ``target_path``, ``is_successful()`` and ``get_error()``
    are dagster-dbt's. :attr:`node_timings` holds the finished nodes' timings.
    """

    workload: str = ""
    record_history: bool = True
    # The step that governs the command when dagster-dbt was given no context (``cli(...,
    # run_context=...)``): its log and run get what the context's would.
    run_context: Any = None
    # The step's dbt worker that ran the command (None: its own orch-dbt process).
    worker_pid: int | None = None
    node_timings: list[dict[str, Any]] = field(init=False, default_factory=list)
    # (epoch seconds, previous cap, new cap) of each change the gate applied.
    cap_changes: list[tuple[float, int, int]] = field(init=False, default_factory=list)
    threads: int | None = field(init=False, default=None)
    _admitted: dict[str, Mapping[str, Any]] = field(init=False, default_factory=dict)
    # dbt's thread names -> the build's lanes 1 ... threads, in the order the threads first finish.
    _lanes: dict[str, int] = field(init=False, default_factory=dict)
    _started: float = field(init=False, default_factory=time.time)
    _finished: bool = field(init=False, default=False)

    @classmethod
    def adopt(cls, invocation: DbtCliInvocation, **extra: Any) -> GatedDbtCliInvocation:
        """The same running command, as a gated invocation (nothing of it has been read yet)."""
        values = {f.name: getattr(invocation, f.name) for f in fields(DbtCliInvocation) if f.init}
        return cls(**values, **extra)

    def stream_raw_events(self) -> Iterator[DbtCliEventMessage]:
        try:
            for event in super().stream_raw_events():
                name = event.raw_event["info"]["name"]
                if name == CAP_EVENT:
                    data = event.raw_event["data"]
                    at = _epoch(event.raw_event["info"]["ts"]) or time.time()
                    self.cap_changes.append((at, int(data["previous"]), int(data["cap"])))
                    self._log(event.raw_event["info"]["msg"])
                elif name == ADMITTED_EVENT:
                    data = event.raw_event["data"]
                    self._admitted[data["node_info"]["unique_id"]] = data
                else:
                    if name == CONCURRENCY_EVENT:
                        self.threads = int(event.raw_event["data"].get("num_threads") or 0) or None
                    if event.is_result_event:
                        self._record(event)
                    yield event
        finally:
            self._finish()

    def _stream_asset_events(self) -> Iterator[DbtDagsterEventType]:
        """dagster-dbt's events in dbt's order, each model's with its timing. The latest
        materialization and the events after it are held until the next materialization (or
        the end, when the build's timeline is added to it): a check result never precedes the
        materialization it checks."""
        held: list[Any] = []
        try:
            for event in self.stream_raw_events():
                for asset_event in event.to_default_asset_events(
                    manifest=self.manifest,
                    dagster_dbt_translator=self.dagster_dbt_translator,
                    context=self.context,
                    target_path=self.target_path,
                    project=self.project,
                ):
                    if isinstance(asset_event, (dg.Output, dg.AssetMaterialization)):
                        yield from held
                        extra = node_metadata(self.timing(self._unique_id(event)))
                        held = [asset_event.with_metadata({**asset_event.metadata, **extra})]
                    elif held:
                        held.append(asset_event)
                    else:
                        yield asset_event
        except BaseException:
            yield from held
            raise
        if held:
            held[0] = held[0].with_metadata({**held[0].metadata, **self._timeline()})
            yield from held

    @staticmethod
    def _unique_id(event: DbtCliEventMessage) -> str:
        return event.raw_event["data"]["node_info"]["unique_id"]

    def timing(self, unique_id: str) -> dict[str, Any] | None:
        return next((t for t in self.node_timings if t["unique_id"] == unique_id), None)

    def _log(self, message: str) -> None:
        step = self.context or self.run_context
        if step is not None:
            step.log.info(message)

    def _record(self, event: DbtCliEventMessage) -> None:
        raw = event.raw_event
        node_info = raw["data"]["node_info"]
        end = _epoch(node_info.get("node_finished_at")) or _epoch(raw["info"].get("ts"))
        start = _epoch(node_info.get("node_started_at")) or end
        if start is None or end is None:
            return
        admitted = self._admitted.get(node_info["unique_id"], {})
        thread = raw["info"].get("thread", "")
        lane = self._lanes.setdefault(thread, len(self._lanes) + 1)
        self.node_timings.append({
            "unique_id": node_info["unique_id"],
            "execution_class": admitted.get("execution_class"),
            "thread": thread,
            "lane": lane,
            "ready": float(admitted.get("ready") or start),
            "admitted": admitted.get("admitted"),
            "start": start,
            "end": end,
            "wait_s": float(admitted.get("wait_s") or 0.0),
        })  # fmt: skip

    def _timeline(self) -> dict[str, Any]:
        if not self.node_timings:
            return {}
        build = YearTimeline(0, self.node_timings, time.time() - self._started)
        title = f"{self.workload or 'dbt'}: dbt nodes per thread ({self.dbt_command_name})"
        path = self.target_path / TIMELINE_FILE
        return timeline_metadata([build], parents_of(self.manifest), path, title, self.threads or 1)

    @property
    def dbt_command_name(self) -> str:
        args = [str(a) for a in cast("Sequence[Any]", self.process.args)]
        return next((a for a in args[1:] if not a.startswith("-")), "dbt")

    def _finish(self) -> None:
        """Once, when the command's output ends: the runtime history and the threads tag."""
        context = self.context or self.run_context
        if self._finished or context is None or not self.record_history:
            return
        self._finished = True
        threads = self.threads
        if threads is None:
            return
        run_id = context.run.run_id
        if DBT_THREADS not in context.run.tags:
            context.instance.add_run_tags(run_id, {DBT_THREADS: str(threads)})
        try:
            record_model_times(
                model_times_table(context.instance), run_id, self.workload, 0, threads,
                {0: self.node_timings},
            )  # fmt: skip
        except duckdb.Error as error:
            context.log.warning(f"Node times not recorded in the runtime history: {error}")
