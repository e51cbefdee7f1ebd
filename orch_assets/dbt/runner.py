"""The resource's side of a step's dbt worker (:mod:`orch_assets.dbt.worker`): start it, call
functions in it, stop it; never leave it running.

The worker runs in a session of its own (a signal to the run's process group does not reach it
half-way through a write); it exits by itself within a second of this process's death.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orch_assets.dbt.worker_client import request_line

STARTUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0


class DbtWorkerError(Exception):
    """The dbt worker could not start, died, or a function called in it failed."""


class DbtWorker:
    """One running worker. ``socket_path`` is what ``orch-dbt`` connects to."""

    def __init__(
        self, cwd: str | None, reparse_on_vars: bool, parse: Mapping[str, Any] | None = None
    ) -> None:
        """``parse``: the project to parse as soon as dbt is imported (``project_dir``,
        ``profiles_dir``, ``profile``, ``target``, ``partial_parse``: a seed file), before the
        first command asks."""
        self.directory = Path(tempfile.mkdtemp(prefix="orch_dbt_worker_"))
        self.socket_path = str(self.directory / "worker.sock")
        self.log_path = str(self.directory / "worker.log")
        spec = {
            "socket": self.socket_path,
            "parent_pid": os.getpid(),
            "cwd": cwd,
            "reparse_on_vars": reparse_on_vars,
            "parse": {**parse, "target_path": str(self.directory / "target")} if parse else None,
        }
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "orch_assets.dbt.worker", json.dumps(spec)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=cwd,
                start_new_session=True,
            )
        self.pid = self.process.pid
        self.busy = threading.Lock()
        self._ready()

    def _ready(self) -> None:
        assert self.process.stdout is not None
        timer = threading.Timer(STARTUP_TIMEOUT_S, self.process.kill)
        timer.start()
        try:
            line = self.process.stdout.readline()
        finally:
            timer.cancel()
            self.process.stdout.close()
        if not line:
            self.process.wait()
            raise DbtWorkerError(
                f"the dbt worker exited with code {self.process.returncode} before it was "
                f"ready; its log ends:\n{self.log_tail()}"
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _request(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(self.socket_path)
            connection.sendall(request_line(dict(payload)))
            with connection.makefile("rb") as reader:
                line = reader.readline()
        if not line:
            raise DbtWorkerError(f"the dbt worker (pid {self.pid}) died; its log ends:\n"
                                 f"{self.log_tail()}")  # fmt: skip
        return json.loads(line)

    def call(self, function: str, **kwargs: Any) -> Any:
        """``function`` (``"module:name"``) called with ``kwargs`` in the worker; its result."""
        with self.busy:
            answer = self._request({"type": "call", "function": function, "kwargs": kwargs})
        if "error" in answer:
            raise DbtWorkerError(f"{function} in the dbt worker failed: {answer['error']}")
        return answer["result"]

    def stop(self) -> None:
        """Asks the worker to end, then makes sure it has; removes its socket and log."""
        if self.alive():
            with contextlib.suppress(OSError, DbtWorkerError, ValueError):
                self._request({"type": "stop"})
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(OSError):
            shutil.rmtree(self.directory)
