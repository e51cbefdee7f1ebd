"""Errors the adaptive executor raises, or raises inside a step thread to stop it.

The in-step errors derive from ``BaseException`` (like ``KeyboardInterrupt``) so that a step's
``except Exception:`` does not swallow them.
"""

from dagster import DagsterError


class StepStoppedError(BaseException):
    """Base of the errors raised inside a step the executor stops; ``detail`` is the message."""

    detail = "the step was stopped by the adaptive executor"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.detail


class StepTimeoutError(StepStoppedError):
    """The step ran longer than its ``step_timeout_s``."""


class StepCancelledError(StepStoppedError):
    """The step was stopped because another step failed and ``fail_fast`` is on."""


class FailFastError(DagsterError):
    """Raised when a step fails under ``fail_fast: true``; names failed, cancelled, skipped."""


def with_detail(base: type[BaseException], detail: str) -> type[BaseException]:
    """A subclass of ``base`` whose instances, created without arguments, carry ``detail``.

    An exception raised asynchronously in another thread is created from its class with no
    arguments, so the message has to travel on the class.
    """

    def __str__(self: BaseException) -> str:
        return detail

    return type(
        base.__name__,
        (base,),
        {"detail": detail, "__str__": __str__, "__module__": base.__module__},
    )
