"""Raising an exception in another thread (``PyThreadState_SetAsyncExc``), and taking it back.

Thread mode stops a step by scheduling an exception in its thread; when the step ends before the
exception is raised, the scheduled one must be cleared, or it would go off later inside Dagster's
or Python's machinery (say, holding a logging or queue lock).

Clearing has a CPython 3.10/3.11 trap: ``PyThreadState_SetAsyncExc(ident, NULL)`` sets the
interpreter-wide "async exception pending" flag, and only a thread that then finds an exception
of its own resets it. Nobody does, so the flag stays set for the life of the process: every
thread goes through the interpreter's pending-work check at every function call and loop, and a
thread with a profile or trace function (cProfile, coverage, a debugger) loops forever on the
first instruction of the next function it calls; the run hangs. :func:`clear_async_exc`
therefore clears only what was scheduled, and then hands a throwaway thread an exception of its
own to take, which resets the flag (3.12 resets it on every check; harmless there).
"""

import ctypes
import threading
import time


class _FlagReset(Exception):
    """Raised in the throwaway thread of :func:`_reset_pending_flag`, and caught there."""


def raise_in_thread(ident: int, exc_type: type[BaseException]) -> bool:
    """Schedule ``exc_type`` to be raised in thread ``ident``; False if no such thread."""
    scheduled = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), ctypes.py_object(exc_type)
    )
    return scheduled == 1


def clear_async_exc(ident: int) -> None:
    """Take back an exception scheduled by :func:`raise_in_thread` that may not be raised yet."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)
    _reset_pending_flag()


def _reset_pending_flag() -> None:
    started = threading.Event()

    def take_it() -> None:
        try:
            started.set()
            while True:
                time.sleep(0.001)
        except _FlagReset:
            return

    thread = threading.Thread(target=take_it, name="orch-async-exc-reset", daemon=True)
    thread.start()
    started.wait()
    if thread.ident is not None and raise_in_thread(thread.ident, _FlagReset):
        thread.join(timeout=5.0)
