"""Which step a thread works for, and which subprocesses a step started (thread mode).

In thread mode many steps share one process, so "the children of the run process" does not say
which step started a subprocess. Attribution works like this:

* each step's worker thread is bound to a :class:`StepScope` while the step runs;
* a process-wide audit hook (PEP 578) sees every ``subprocess.Popen`` before it starts; when the
  calling thread is bound to a step, the ``Popen`` object is recorded in that step's scope. This
  covers dagster-dbt, ``subprocess.run`` and anything else built on ``Popen``, with no change to
  the step's code;
* processes started by other means (``os.posix_spawn``, ``multiprocessing``) or from a helper
  thread of the step can be attributed explicitly with :func:`register_subprocess`;
* when the step is stopped, every attributed process is terminated together with all of its
  descendants (and its process group when it leads one), then killed after a grace period.
"""

import os
import signal
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

_owners: "weakref.WeakKeyDictionary[threading.Thread, StepScope]" = weakref.WeakKeyDictionary()
_hook_lock = threading.Lock()
_hook_installed = False


@dataclass(eq=False)
class StepScope:
    """Everything attributed to one attempt of one step running in a thread."""

    run_id: str
    step_key: str
    popens: list[subprocess.Popen] = field(default_factory=list)
    pids: dict[int, float] = field(default_factory=dict)
    muted: bool = False
    # Called in the step's thread once the step has ended (at_step_end).
    on_end: list[Callable[[], object]] = field(default_factory=list)

    def live_processes(self) -> list[psutil.Process]:
        """Attributed processes still running; a reused pid is never mistaken for ours."""
        found: list[psutil.Process] = []
        for popen in list(self.popens):
            if popen.poll() is None:
                try:
                    found.append(psutil.Process(popen.pid))
                except psutil.NoSuchProcess:
                    continue
        for pid, created in list(self.pids.items()):
            try:
                proc = psutil.Process(pid)
                if abs(proc.create_time() - created) < 0.01:
                    found.append(proc)
            except psutil.NoSuchProcess:
                continue
        return found


def bind_current_thread(scope: StepScope) -> None:
    _owners[threading.current_thread()] = scope


def unbind_current_thread() -> None:
    _owners.pop(threading.current_thread(), None)


def current_scope() -> StepScope | None:
    """The step the calling thread works for, if any."""
    return _owners.get(threading.current_thread())


def register_subprocess(process: subprocess.Popen | psutil.Process | int) -> bool:
    """Attribute a process to the step running in the calling thread.

    Returns False when the calling thread runs no step of an adaptive thread-mode run (process
    mode needs no registration: the whole child process tree belongs to the step).
    """
    scope = current_scope()
    if scope is None:
        return False
    if isinstance(process, subprocess.Popen):
        scope.popens.append(process)
        return True
    proc = process if isinstance(process, psutil.Process) else psutil.Process(process)
    scope.pids[proc.pid] = proc.create_time()
    return True


def at_step_end(callback: Callable[[], object]) -> bool:
    """Calls ``callback`` when the step running in the calling thread ends (thread mode), e.g.
    to stop a helper process the step started and its run's shared resources would otherwise
    keep until the run ends. False when the calling thread runs no step of a thread-mode run
    (a step process ends with its step anyway)."""
    scope = current_scope()
    if scope is None:
        return False
    scope.on_end.append(callback)
    return True


def run_step_end_callbacks(scope: StepScope) -> None:
    """The step's :func:`at_step_end` callbacks; one failing does not stop the others."""
    for callback in scope.on_end:
        try:
            callback()
        except Exception as error:  # a clean-up's failure must not fail the finished step
            print(f"orch_assets: a step-end clean-up failed: {error!r}", file=sys.stderr)
    scope.on_end.clear()


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "subprocess.Popen" or not _owners:
        return
    scope = _owners.get(threading.current_thread())
    if scope is None:
        return
    popen = sys._getframe(1).f_locals.get("self")  # noqa: SLF001 - the Popen being started
    if isinstance(popen, subprocess.Popen):
        scope.popens.append(popen)


def install_audit_hook() -> None:
    """Install the attribution hook once per interpreter (audit hooks cannot be removed)."""
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_audit_hook)
            _hook_installed = True


def _with_descendants(roots: list[psutil.Process]) -> list[psutil.Process]:
    seen: dict[int, psutil.Process] = {}
    for root in roots:
        seen.setdefault(root.pid, root)
        try:
            for child in root.children(recursive=True):
                seen.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            continue
    return [proc for pid, proc in seen.items() if pid != os.getpid()]


def terminate_process_trees(roots: list[psutil.Process], grace_s: float = 1.0) -> list[int]:
    """SIGTERM the processes, their descendants and groups they lead; SIGKILL after grace_s."""
    procs = _with_descendants(roots)
    own_group = os.getpgid(0)
    for root in roots:
        try:
            group = os.getpgid(root.pid)
            if group == root.pid and group != own_group:
                os.killpg(group, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            continue
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(alive, timeout=grace_s)
    return [proc.pid for proc in procs]


def terminate_in_background(roots: list[psutil.Process], grace_s: float = 1.0) -> None:
    """Like :func:`terminate_process_trees` without blocking the scheduler."""
    if roots:
        threading.Thread(
            target=terminate_process_trees, args=(roots, grace_s), name="orch-reaper", daemon=True
        ).start()
