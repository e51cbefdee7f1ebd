"""The live concurrency cap, readable by the steps of a run.

A step that has inner parallelism of its own (dbt ``--threads``, a thread pool) can size it
from :func:`live_cap` so the run as a whole stays within what the executor currently allows.

* ``mode: thread`` / ``sequential``: the executor publishes every cap change to an in-process
  registry keyed by run id, so the value is current at the moment of the call.
* ``mode: process``: steps run in child processes. Before each step the child sets the
  environment variables ``ORCH_LIVE_CAP`` (the cap when the step was launched) and
  ``ORCH_LIVE_CAP_RUN_ID``; subprocesses the step starts inherit them.
"""

import os
import threading

LIVE_CAP_ENV = "ORCH_LIVE_CAP"
LIVE_CAP_RUN_ID_ENV = "ORCH_LIVE_CAP_RUN_ID"

_caps: dict[str, int] = {}
_lock = threading.Lock()


def live_cap(run_id: str | None = None) -> int | None:
    """Return how many steps the adaptive executor currently lets run at once, or ``None``.

    Args:
        run_id: The run to ask about (``context.run_id`` inside an op). ``None`` accepts the
            value from the environment of a process-mode child whatever its run.

    Returns:
        The live cap (always >= 1), or ``None`` when the run does not use the adaptive executor.
    """
    if run_id is not None:
        with _lock:
            cap = _caps.get(run_id)
        if cap is not None:
            return cap
    env_run = os.environ.get(LIVE_CAP_RUN_ID_ENV)
    env_cap = os.environ.get(LIVE_CAP_ENV, "")
    if env_cap.isdigit() and (run_id is None or env_run == run_id):
        return max(1, int(env_cap))
    return None


def publish_live_cap(run_id: str, cap: int) -> None:
    with _lock:
        _caps[run_id] = max(1, cap)


def retract_live_cap(run_id: str) -> None:
    with _lock:
        _caps.pop(run_id, None)


def export_live_cap_env(run_id: str, cap: int) -> None:
    """Set the process-mode environment variables (called in the child before each step)."""
    os.environ[LIVE_CAP_ENV] = str(max(1, cap))
    os.environ[LIVE_CAP_RUN_ID_ENV] = run_id
