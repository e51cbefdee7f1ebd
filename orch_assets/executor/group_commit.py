"""The writer of thread mode's grouped event writes (see ``event_writes``)."""

import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import DagsterEventType

from orch_assets.executor._internals import (
    DagsterInstance,
    EngineEventData,
    EventLogEntry,
    is_plain_step_event,
    serializable_error_info_from_exc_info,
    store_step_events,
)
from orch_assets.executor.run_log_handler import in_quiet_thread, mark_quiet_thread

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
    entry: EventLogEntry | None
    batch_metadata: Any
    call: Callable[[], object] | None = None
    thread: int = field(default_factory=threading.get_ident)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    @property
    def written_behind(self) -> bool:
        if self.entry is None:
            return True
        event = self.entry.dagster_event
        return self.batch_metadata is None and (
            event is None or event.event_type in WRITE_BEHIND_TYPES
        )


class GroupCommit:
    """Stores queued events in queue order from one writer thread, a group per transaction."""

    def __init__(self, instance: DagsterInstance) -> None:
        self.instance = instance
        self._last: _Pending | None = None
        self._queue: list[_Pending] = []
        self._ready = threading.Condition()
        self._closed = False
        self._deferred_errors: dict[int, BaseException] = {}
        self._inline_lock = threading.Lock()
        self._call_error: BaseException | None = None
        self.transactions = 0
        self._writer = threading.Thread(target=self._run, name="orch-event-writer", daemon=True)
        self._writer.start()

    def call_behind(self, call: Callable[[], object]) -> None:
        """Run a storage call in the writer, in queue order; :meth:`close` raises its error."""
        self._enqueue(_Pending(None, None, call))

    def submit(self, entry: EventLogEntry, batch_metadata: Any = None) -> None:
        """Queue ``entry``; unless it is written behind, return once it is stored."""
        self._enqueue(_Pending(entry, batch_metadata))

    def _enqueue(self, pending: _Pending) -> None:
        if in_quiet_thread():
            # The writer (or a storage call it makes) never waits for itself.
            self._write_one(pending)
            if pending.error is not None and not pending.written_behind:
                raise pending.error
            return
        with self._ready:
            deferred = self._deferred_errors.pop(pending.thread, None)
            if deferred is not None:
                raise deferred
            closed = self._closed
            if not closed:
                self._queue.append(pending)
                self._last = pending
                self._ready.notify()
        if closed:
            with self._inline_lock:
                self._write([pending])
        elif pending.written_behind:
            return
        pending.done.wait()
        if pending.error is not None:
            raise pending.error

    def flush(self) -> None:
        """Return once everything queued so far is stored."""
        with self._ready:
            last = self._last
        if last is not None:
            last.done.wait()

    def close(self) -> None:
        """Write everything queued, stop the writer; later events are written by their thread.

        Raises the first error of a :meth:`call_behind` call.
        """
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._writer.join()
        if self._call_error is not None:
            raise self._call_error

    def _run(self) -> None:
        mark_quiet_thread()
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
                if pending.call is not None:
                    if self._call_error is None:
                        self._call_error = pending.error
                elif pending.written_behind and pending.error is not None:
                    self._report_behind_error(pending)

    def _write(self, group: Sequence[_Pending]) -> None:
        plain: list[_Pending] = []
        for pending in group:
            entry = pending.entry
            if entry is not None and pending.batch_metadata is None and is_plain_step_event(entry):
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
                stored = store_step_events(self.instance, [p.entry for p in group if p.entry])
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
            if pending.call is not None:
                pending.call()
            elif pending.entry is not None:
                self.instance.handle_new_event(pending.entry, batch_metadata=pending.batch_metadata)
                self.transactions += 1
        except BaseException as error:
            pending.error = error
        finally:
            pending.done.set()

    def _report_behind_error(self, pending: _Pending) -> None:
        """As Dagster's handler does: raise a Dagster event's failure, report a message's."""
        error = pending.error
        entry = pending.entry
        if entry is None:
            return
        sys.stderr.write(f"Exception while writing logger call to event log: {error}\n")
        if entry.dagster_event is not None:
            with self._ready:
                self._deferred_errors.setdefault(pending.thread, error)  # type: ignore[arg-type]
            return
        try:
            self.instance.report_engine_event(
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
