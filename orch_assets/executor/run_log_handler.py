"""Thread mode's Dagster log handler: no handler lock, and deaf to the event writer's thread.

Dagster turns every log call of a run (``context.log``, Dagster events and, while user code
runs, records of the instance's ``managed_python_loggers``) into an event through one
``DagsterLogHandler`` per context. ``logging.Handler.handle`` holds the handler's lock around
``emit``, and ``emit`` ends in the event-log write. With grouped writes (``event_writes``) that
write can wait for the run's writer thread, and the writer's own records (SQLAlchemy's
``BEGIN (implicit)``, the storage's) reach the root logger, where a managed root logger has
the step's handler attached: the step thread held the lock while waiting for the writer, the
writer waited for the lock, and the run hung for ever.

:class:`RunLogHandler` removes both halves, by construction:

* it takes no lock around ``emit``: nothing in the run's event path waits for the writer while
  holding a lock of a handler (``emit`` keeps its state per thread, the handlers it calls keep
  their own locks and never wait for the writer);
* it ignores every record logged in a thread marked with :func:`mark_quiet_thread` (the event
  writer), as Dagster's handler ignores what is logged while it emits in the same thread: the
  writer's records go to the Python handlers of the loggers as usual, never into the run.

:func:`run_log_handler` installs it on a run's log manager for a block; every step, hook and
resource context made from that log manager inherits it (``with_tags``).
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from orch_assets.executor._internals import (
    DagsterLogHandler,
    DagsterLogManager,
    dagster_log_handler,
    derive_log_handler,
    swap_log_handler,
)

__all__ = ["RunLogHandler", "in_quiet_thread", "mark_quiet_thread", "run_log_handler"]

_thread_state = threading.local()


def mark_quiet_thread() -> None:
    """Records logged from now on in this thread never become events of a run."""
    _thread_state.quiet = True


def in_quiet_thread() -> bool:
    return bool(getattr(_thread_state, "quiet", False))


class RunLogHandler(DagsterLogHandler):
    """Dagster's log handler without the handler lock; ignores quiet threads (see module)."""

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        accepted = self.filter(record)
        if accepted:
            self.emit(record)
        return bool(accepted)

    def filter(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        return not in_quiet_thread() and super().filter(record)

    def with_tags(self, **new_tags: str) -> "RunLogHandler":
        return derive_log_handler(RunLogHandler, self, new_tags)


@contextmanager
def run_log_handler(log: DagsterLogManager) -> Iterator[None]:
    """For the block, ``log`` and every context made from it log through a RunLogHandler."""
    handler = derive_log_handler(RunLogHandler, dagster_log_handler(log))
    original = swap_log_handler(log, handler)
    try:
        yield
    finally:
        swap_log_handler(log, original)
