"""Thread mode: the run's events written by one writer thread, a SQLite transaction per group.

Dagster writes each event in the thread that logs it, through one ``logging.Handler`` that the
run's log manager shares with every step context. ``logging.Handler.handle`` holds the handler's
lock around each write and the SQLite storage commits every event on its own (an fsync each), so
with many steps in threads every event waits for the commits of all the others, and every step
waits for the commit of each of its own events before it goes on.

:func:`grouped_event_writes` makes a :class:`GroupCommit` for one run, and :func:`writes_through`
replaces that handler of a log manager (the run's orchestration context, then its execution
context with every step context made from it) with one whose writes go through the group: the
logging thread queues its event; one writer thread takes everything queued so far and stores it
in one transaction, in queue order. The executor's run-tag writes go through the same queue
(``call_behind``). Then:

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
  one (Postgres, ...), something subscribed to the run in this process, or the instance's
  ``handle_new_event`` is not Dagster's own (overridden by its class, wrapped on the object),
  take the instance's ``handle_new_event``, one by one, in queue order (still in the writer
  thread);
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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from orch_assets.executor._internals import (
    DagsterInstance,
    DagsterLogManager,
    EventListenerLogHandler,
    EventLogEntry,
    event_log_handlers,
)
from orch_assets.executor.group_commit import WRITE_BEHIND_TYPES, GroupCommit
from orch_assets.executor.run_log_handler import run_log_handler

__all__ = [
    "SWITCH_ENV",
    "WRITE_BEHIND_TYPES",
    "GroupCommit",
    "grouped_event_writes",
    "writes_through",
]

SWITCH_ENV = "ORCH_GROUPED_EVENT_WRITES"


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
def grouped_event_writes(instance: DagsterInstance) -> Iterator[GroupCommit | None]:
    """A group commit for the block; at its end, everything queued is written."""
    if not grouped_writes_enabled():
        yield None
        return
    group = GroupCommit(instance)
    try:
        yield group
    finally:
        group.close()


@contextmanager
def writes_through(group: GroupCommit | None, log: DagsterLogManager) -> Iterator[None]:
    """For the block, events logged through ``log`` (and its step contexts) go to ``group``.

    ``log`` also logs through a :class:`RunLogHandler` for the block: no handler lock is held
    while a write waits for the writer, and the writer's own records never reach the run.
    """
    handlers = event_log_handlers(log)
    index = next((i for i, h in enumerate(handlers) if type(h) is EventListenerLogHandler), None)
    if group is None or index is None:
        yield
        return
    original = handlers[index]
    replacement = _UnlockedEventHandler(_GroupedInstance(group.instance, group))  # type: ignore[arg-type]
    replacement.setLevel(original.level)
    handlers[index] = replacement
    try:
        with run_log_handler(log):
            yield
    finally:
        group.flush()
        handlers[index] = original
