"""Parent side of the dbt worker: start it, stream its protocol, never leave it running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The profile's relative database path (dbt_project/profiles.yml): the worker runs in the
# simulation's directory, so simulations differ by directory and share dbt's partial-parse state.
DATABASE_FILE_NAME = "workforce.duckdb"


class DbtWorkerError(Exception):
    """The dbt worker failed: a year's build failed, or the process itself crashed."""

    def __init__(self, message: str, year: int | None = None, stderr_tail: str = "") -> None:
        super().__init__(message)
        self.year = year
        self.stderr_tail = stderr_tail


@dataclass(frozen=True)
class WorkerRequest:
    """Everything one worker needs; serialised to JSON on its command line."""

    project_dir: Path
    profiles_dir: Path
    partial_parse_seed: Path | None
    database_path: Path
    target_path: Path
    log_path: Path
    years: Sequence[int]
    threads: int
    vars: Mapping[str, Any] = field(default_factory=dict)
    select: Sequence[str] = ()
    exclude: Sequence[str] = ()
    summary_queries: Mapping[str, str] = field(default_factory=dict)
    # How long the worker waits for another process's lock on the database (a reader) at start.
    lock_wait_seconds: float = 60.0
    # Parquet copies of finished years for readers (orch_assets.dbt.publish): results_dir,
    # tables, writer (e.g. {"run_id": ...}); None: nothing is published.
    publish: Mapping[str, Any] | None = None
    # Run (with $year) just before a year's build starts, and right after it succeeded.
    year_started_sql: Sequence[str] = ()
    year_completed_sql: Sequence[str] = ()
    # Model scheduling inside each build (orch_assets.dbt.scheduling): the run's class limits,
    # the live cap at start, ordering, and node seconds recorded by earlier runs.
    scheduling: Mapping[str, Any] = field(default_factory=dict)
    later_years_exclude: Sequence[str] = ()
    # Counted after each year: unique_id -> {"relation": the manifest's relation_name,
    # "year_column": a column whose value is the year (incremental tables), or None}.
    row_counts: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.database_path.name != DATABASE_FILE_NAME:
            raise ValueError(
                f"database_path must be a file named {DATABASE_FILE_NAME} (the profile's path), "
                f"got {self.database_path}"
            )

    def to_json(self) -> str:
        return json.dumps(
            {
                "project_dir": str(self.project_dir),
                "profiles_dir": str(self.profiles_dir),
                "partial_parse_seed": str(self.partial_parse_seed or ""),
                "database_path": str(self.database_path),
                "target_path": str(self.target_path),
                "log_path": str(self.log_path),
                "years": list(self.years),
                "threads": self.threads,
                "vars": dict(self.vars),
                "select": list(self.select),
                "exclude": list(self.exclude),
                "summary_queries": dict(self.summary_queries),
                # The worker exits when this process dies (orch_assets.dbt.control).
                "parent_pid": os.getpid(),
                "lock_wait_seconds": self.lock_wait_seconds,
                "publish": dict(self.publish) if self.publish else None,
                "year_started_sql": list(self.year_started_sql),
                "year_completed_sql": list(self.year_completed_sql),
                "later_years_exclude": list(self.later_years_exclude),
                "row_counts": {uid: dict(spec) for uid, spec in self.row_counts.items()},
                **dict(self.scheduling),
            },
            default=str,
        )


def worker_command(request: WorkerRequest) -> list[str]:
    return [sys.executable, "-m", "orch_assets.dbt.worker", request.to_json()]


class WorkerProcess:
    """A running worker. Iterate :meth:`messages`; the process is always reaped on exit.

    ``on_start`` is called with the child process as soon as it exists, so the caller can make it
    known to whatever may need to terminate it (the adaptive executor's step timeouts). The
    worker's stdin is its control channel: :meth:`send` writes one JSON message to it; closing it
    (when :meth:`messages` ends, or when this process dies) makes the worker exit.
    """

    def __init__(
        self,
        request: WorkerRequest,
        on_start: Callable[[subprocess.Popen[str]], object] | None = None,
    ) -> None:
        self.request = request
        self._on_start = on_start
        self.pid: int | None = None
        self._stderr: deque[str] = deque(maxlen=60)
        self._last_year: int | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._stdin_lock = threading.Lock()
        self._error: str | None = None

    def send(self, message: Mapping[str, Any]) -> bool:
        """Sends a control message (``{"type": ..., ...}``); False if the worker is not running."""
        line = json.dumps(dict(message)) + "\n"
        with self._stdin_lock:
            proc = self._proc
            if proc is None or proc.stdin is None or proc.stdin.closed or proc.poll() is not None:
                return False
            try:
                proc.stdin.write(line)
                proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                return False
        return True

    def _close_stdin(self, proc: subprocess.Popen[str]) -> None:
        with self._stdin_lock:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass
        # Slot requests and releases of a run-shared model gate (orch_assets/simulation/run_gate.py)
        # go here instead of to the caller.
        self.on_slot: Callable[[dict[str, Any]], None] | None = None

    def messages(self) -> Iterator[dict[str, Any]]:
        self.request.target_path.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            worker_command(self.request),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            cwd=self.request.database_path.parent,
            start_new_session=True,
        )
        self.pid = proc.pid
        self._proc = proc
        if self._on_start is not None:
            self._on_start(proc)
        drain = threading.Thread(target=self._drain_stderr, args=(proc,), daemon=True)
        drain.start()
        failed_year: dict[str, Any] | None = None
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                message = json.loads(line)
                if message["type"] in ("slot_request", "slot_release") and self.on_slot:
                    self.on_slot(message)
                    continue
                if message["type"] == "year_start":
                    self._last_year = message["year"]
                if message["type"] == "year_end" and not message["success"]:
                    failed_year = message
                if message["type"] == "error":
                    self._error = message["message"]
                yield message
            returncode = proc.wait()
        finally:
            self._close_stdin(proc)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            drain.join(timeout=5)
        if returncode != 0:
            raise self._failure(returncode, failed_year)

    def _drain_stderr(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self._stderr.append(line.rstrip("\n"))

    def _failure(self, returncode: int, failed_year: dict[str, Any] | None) -> DbtWorkerError:
        tail = "\n".join(self._stderr)
        if failed_year is not None:
            failures = failed_year.get("failures") or []
            detail = "\n".join(f"  - {f}" for f in failures[:20])
            more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
            return DbtWorkerError(
                f"dbt build failed for simulation year {failed_year['year']}; later years were "
                f"not run. {failed_year.get('error') or ''}".strip()
                + (f"\nFailed dbt nodes:\n{detail}{more}" if failures else ""),
                year=failed_year["year"],
                stderr_tail=tail,
            )
        if self._error is not None:
            return DbtWorkerError(self._error, year=self._last_year, stderr_tail=tail)
        return DbtWorkerError(
            f"dbt worker exited with code {returncode} during year {self._last_year}",
            year=self._last_year,
            stderr_tail=tail,
        )
