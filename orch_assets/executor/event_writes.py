"""Thread mode: the run's events written by one writer thread, a SQLite transaction per group.

Dagster writes each event in the thread that logs it, through one ``logging.Handler`` that the
run's log manager shares with every step context. ``logging.Handler.handle`` holds the handler's
lock around each write and the SQLite storage commits every event on its own (an fsync each), so
with many steps in threads every event waits for the commits of all the others, and every step
waits for the commit of each of its own events before it goes on.

:func:`grouped_event_writes` replaces that handler, for one run, with one whose writes go through
a :class:`GroupCommit`: the logging thread queues its event; one writer thread takes everything
queued so far and stores it in one transaction, in queue order. Then:

* events that only record progress (``WRITE_BEHIND_TYPES``: step start, inputs, outputs, engine
  events, log capture, resource initialisation started and succeeded, and log messages) are
  written behind: the logging thread goes on as soon as the event is queued;
* every other event (a step's success, failure, retry or skip, hooks, asset and check events,
  run events, events sent with Dagster's batch metadata) waits until it is stored, and with it
  everything queued before it. So a step's outcome is in the event log, after all its earlier
  events, before the step's thread reports it to the scheduler, and nothing the scheduler does
  (launching dependents, retrying, ending the run) runs ahead of storage;
* events are stored in the order they were queued, so each step's events in the order it logged
  them; the events themselves (type, content, timestamp) are unchanged;
* events that Dagster's storage does more with than inserting a row (asset, check and run
  events), events with batch metadata, and every event when the storage is not the stock SQLite
  one (Postgres, ...) or something subscribed to the run in this process, take Dagster's
  ``handle_new_event``, one by one, in queue order (still in the writer thread);
* a failed group write falls back to ``handle_new_event`` per event. A failed write of a waiting
  event is raised in the thread that logged it; of a written-behind Dagster event, in that
  thread's next waiting event (Dagster raises such failures; they fail the step); of a
  written-behind log message, reported as an engine event, as Dagster does;
* the block's end waits until the queue is written; events logged after it are written at once.

If the run's process dies, events still queued (at most those logged during the last commit) are
lost; a step's outcome never is, since it is stored before anything acts on it.

``ORCH_GROUPED_EVENT_WRITES=0`` (read when the run starts) turns this off, for comparisons.
"""

import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dagster import DagsterEventType

from orch_assets.executor._internals import (
    DagsterInstance,
    EngineEventData,
    EventListenerLogHandler,
    EventLogEntry,
    PlanExecutionContext,
    event_log_handlers,
    is_plain_step_event,
    serializable_error_info_from_exc_info,
    store_step_events,
)

SWITCH_ENV = "ORCH_GROUPED_EVENT_WRITES"
WRITE_BEHIND_TYPES = frozenset(
    {
        DagsterEventType.STEP_START,
        DagsterEventType.STEP_INPUT,
        DagsterEventType.STEP_OUTPUT,
        DagsterEventType.LOADED_INPUT,
        DagsterEventType.HANDLED_OUTPUT,
        DagsterEventType.ENGINE_EVENT,
        DagsterEventType.LOGS_CAPTURED,
        DagsterEventType.RESOURCE_INIT_STARTED,
        DagsterEventType.RESOURCE_INIT_SUCCESS,
    }
)


@dataclass
class _Pending:
    entry: EventLogEntry
    batch_metadata: Any
    thread: int = field(default_factory=threading.get_ident)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    @property
    def written_behind(self) -> bool:
        event = self.entry.dagster_event
        return self.batch_metadata is None and (
            event is None or event.event_type in WRITE_BEHIND_TYPES
        )


class GroupCommit:
    """Stores queued events in queue order from one writer thread, a group per transaction."""

    def __init__(self, instance: DagsterInstance) -> None:
        self._instance = instance
        self._queue: list[_Pending] = []
        self._ready = threading.Condition()
        self._closed = False
        self._deferred_errors: dict[int, BaseException] = {}
        self._inline_lock = threading.Lock()
        self.transactions = 0
        self._writer = threading.Thread(target=self._run, name="orch-event-writer", daemon=True)
        self._writer.start()

    def submit(self, entry: EventLogEntry, batch_metadata: Any = None) -> None:
        """Queue ``entry``; unless it is written behind, return once it is stored."""
        pending = _Pending(entry, batch_metadata)
        with self._ready:
            deferred = self._deferred_errors.pop(pending.thread, None)
            if deferred is not None:
                raise deferred
            closed = self._closed
            if not closed:
                self._queue.append(pending)
                self._ready.notify()
        if closed:
            with self._inline_lock:
                self._write([pending])
        elif pending.written_behind:
            return
        pending.done.wait()
        if pending.error is not None:
            raise pending.error

    def close(self) -> None:
        """Write everything queued, stop the writer; later events are written by their thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._writer.join()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                group, self._queue = self._queue, []
                if not group and self._closed:
                    return
            with self._inline_lock:
                self._write(group)
            for pending in group:
                if pending.written_behind and pending.error is not None:
                    self._report_behind_error(pending)

    def _write(self, group: Sequence[_Pending]) -> None:
        plain: list[_Pending] = []
        for pending in group:
            if pending.batch_metadata is None and is_plain_step_event(pending.entry):
                plain.append(pending)
                continue
            self._write_plain(plain)
            plain = []
            self._write_one(pending)
        self._write_plain(plain)

    def _write_plain(self, group: Sequence[_Pending]) -> None:
        if not group:
            return
        if len(group) > 1:
            try:
                stored = store_step_events(self._instance, [p.entry for p in group])
            except Exception:
                stored = False
            if stored:
                self.transactions += 1
                for pending in group:
                    pending.done.set()
                return
        for pending in group:
            self._write_one(pending)

    def _write_one(self, pending: _Pending) -> None:
        try:
            self._instance.handle_new_event(pending.entry, batch_metadata=pending.batch_metadata)
            self.transactions += 1
        except BaseException as error:
            pending.error = error
        finally:
            pending.done.set()

    def _report_behind_error(self, pending: _Pending) -> None:
        """As Dagster's handler does: raise a Dagster event's failure, report a message's."""
        error = pending.error
        entry = pending.entry
        sys.stderr.write(f"Exception while writing logger call to event log: {error}\n")
        if entry.dagster_event is not None:
            with self._ready:
                self._deferred_errors.setdefault(pending.thread, error)  # type: ignore[arg-type]
            return
        try:
            self._instance.report_engine_event(
                "Exception while writing logger call to event log",
                job_name=entry.job_name,
                run_id=entry.run_id,
                step_key=entry.step_key,
                engine_event_data=EngineEventData(
                    error=serializable_error_info_from_exc_info(
                        (type(error), error, error.__traceback__)  # type: ignore[arg-type]
                    ),
                ),
            )
        except Exception as report_error:
            sys.stderr.write(f"Could not report it either: {report_error}\n")


class _GroupedInstance:
    """The run's instance, except that ``handle_new_event`` goes through a :class:`GroupCommit`."""

    def __init__(self, instance: DagsterInstance, group: GroupCommit) -> None:
        self._instance = instance
        self._group = group

    def handle_new_event(self, event: EventLogEntry, *, batch_metadata: Any = None) -> None:
        self._group.submit(event, batch_metadata)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._instance, name)


class _UnlockedEventHandler(EventListenerLogHandler):
    """Dagster's event-log handler without the handler-wide lock (ordering is the group's job)."""

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        accepted = self.filter(record)
        if accepted:
            self.emit(record)
        return bool(accepted)


def grouped_writes_enabled() -> bool:
    return os.environ.get(SWITCH_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


@contextmanager
def grouped_event_writes(job_context: PlanExecutionContext) -> Iterator[GroupCommit | None]:
    """For the duration of the block, the run's events are written through a group commit."""
    handlers = event_log_handlers(job_context.log)
    index = next((i for i, h in enumerate(handlers) if type(h) is EventListenerLogHandler), None)
    if index is None or not grouped_writes_enabled():
        yield None
        return
    original = handlers[index]
    group = GroupCommit(job_context.instance)
    replacement = _UnlockedEventHandler(_GroupedInstance(job_context.instance, group))  # type: ignore[arg-type]
    replacement.setLevel(original.level)
    handlers[index] = replacement
    try:
        yield group
    finally:
        group.close()
        handlers[index] = original
