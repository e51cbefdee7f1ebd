"""Step-prefixed ``sys.stdout`` / ``sys.stderr`` for thread mode.

Dagster's compute-log capture redirects the file descriptors of the whole process, so it cannot
tell two threads apart (dagster-io/dagster#2268). Thread mode therefore captures once per run,
like the in-process executor, and additionally wraps the Python-level streams: a complete line
written by a thread that works for a step is written as ``[step_key] line``. Lines from other
threads, and output that bypasses ``sys.stdout`` (subprocesses writing to the inherited file
descriptor), pass through unchanged.
"""

import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO


class StepPrefixedStream:
    """Wraps a text stream; lines from step threads get their step key as a prefix."""

    def __init__(self, wrapped: TextIO, owner: Callable[[], str | None]) -> None:
        self._wrapped = wrapped
        self._owner = owner
        self._partial: dict[int, str] = {}
        self._lock = threading.Lock()

    @property
    def wrapped(self) -> TextIO:
        return self._wrapped

    def write(self, text: str) -> int:
        key = self._owner()
        if key is None:
            return self._wrapped.write(text)
        ident = threading.get_ident()
        with self._lock:
            pending = self._partial.pop(ident, "") + text
            *lines, rest = pending.split("\n")
            if rest:
                self._partial[ident] = rest
            if lines:
                self._wrapped.write("".join(f"[{key}] {line}\n" for line in lines))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def finish_thread(self) -> None:
        """Write out a last unterminated line of the calling thread."""
        key = self._owner()
        with self._lock:
            rest = self._partial.pop(threading.get_ident(), "")
            if rest and key is not None:
                self._wrapped.write(f"[{key}] {rest}\n")

    def flush(self) -> None:
        self._wrapped.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


@contextmanager
def step_prefixed_stdio(owner: Callable[[], str | None]) -> Iterator[list[StepPrefixedStream]]:
    """Install prefixing wrappers on sys.stdout and sys.stderr for the duration of a run."""
    out = StepPrefixedStream(sys.stdout, owner)
    err = StepPrefixedStream(sys.stderr, owner)
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    try:
        yield [out, err]
    finally:
        if sys.stdout is out:
            sys.stdout = out.wrapped
        if sys.stderr is err:
            sys.stderr = err.wrapped
