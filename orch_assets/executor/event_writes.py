"""Thread mode: concurrent steps' events written with one SQLite transaction per group.

Dagster writes each event in the thread that logs it, through one ``logging.Handler`` that the
run's log manager shares with every step context. ``logging.Handler.handle`` holds the handler's
lock around each write and the SQLite storage commits every event on its own, so with many steps
in threads every event waits for the commits of all the others (one fsync each).

:func:`grouped_event_writes` replaces that handler, for one run, with one whose writes go through
a :class:`GroupCommit`: a thread queues its event and then either writes everything queued so
far in one transaction (if no write is under way) or waits for the thread that is writing.
Nothing else changes:

* a thread still returns from logging only once its event is stored, so each step's events are
  stored in the order it logged them and before the step's next action;
* events are stored in the order they were queued, in one transaction per group;
* events that Dagster's storage does more with than inserting a row (asset, check and run
  events), events sent with Dagster's own batch metadata, and every event when the storage is not
  the stock SQLite one (Postgres, ...) or something subscribed to the run in this process, take
  Dagster's ``handle_new_event``, one by one, in queue order;
* a failed group write falls back to ``handle_new_event`` per event (the transaction rolled back),
  and an error reaches the thread that logged the event, as before.

``ORCH_GROUPED_EVENT_WRITES=0`` (read when the run starts) turns this off, for comparisons.
"""

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from orch_assets.executor._internals import (
    DagsterInstance,
    EventListenerLogHandler,
    EventLogEntry,
    PlanExecutionContext,
    event_log_handlers,
    is_plain_step_event,
    store_step_events,
)

SWITCH_ENV = "ORCH_GROUPED_EVENT_WRITES"


@dataclass
class _Pending:
    entry: EventLogEntry
    batch_metadata: Any
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class GroupCommit:
    """Stores events queued by many threads in queue order, a group per transaction."""

    def __init__(self, instance: DagsterInstance) -> None:
        self._instance = instance
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.transactions = 0

    def submit(self, entry: EventLogEntry, batch_metadata: Any = None) -> None:
        """Store ``entry``; returns once it is stored, raises what storing it raised."""
        pending = _Pending(entry, batch_metadata)
        with self._queue_lock:
            self._queue.append(pending)
        while not pending.done.is_set():
            with self._write_lock:
                with self._queue_lock:
                    group, self._queue = self._queue, []
                self._write(group)
        if pending.error is not None:
            raise pending.error

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
    index = next(
        (i for i, h in enumerate(handlers) if type(h) is EventListenerLogHandler), None
    )
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
        handlers[index] = original
