"""A step's dbt worker: one process that imports dbt and parses the project once, then runs every
dbt command of the step, each behind the class gate, as ``orch-dbt`` would.

Started by :class:`orch_assets.dbt.runner.DbtWorker` (the resource's side) as
``python -m orch_assets.dbt.worker SPEC_JSON``; it listens on a Unix socket and serves one
connection at a time (dbt keeps global state: one command at a time per process):

* ``{"type": "invoke", "args": [...], "env": {...}, "cwd": ...}`` from ``orch-dbt``
  (:mod:`orch_assets.dbt.worker_client`): the command runs with that environment (dagster-dbt's
  ``DBT_TARGET_PATH``, ``DBT_LOG_FORMAT`` and the rest) and that working directory (unless the
  spec names one), dbt's stdout goes to the connection byte for byte, then a line
  ``\\0orch-exit <code>``. If the connection closes first (the command was interrupted), the
  worker exits at once: DuckDB's write-ahead log makes that safe for a DuckDB file.
* ``{"type": "call", "function": "module:name", "kwargs": {...}}``: calls a function of the
  caller's in this process, between commands, and answers one JSON line (``result`` or
  ``error``). A project on DuckDB uses it to read or write the file while dbt has it open here.

The project is parsed before the first command that needs a manifest and the parse is reused
while the project, profile, target and (unless the spec's ``reparse_on_vars`` is false)
``--vars`` stay the same. A reused parse is dbt's own in-memory ``Manifest``; the command still
writes ``manifest.json`` into its target directory, as dbt does. The worker exits when the
process that started it is gone (:func:`~orch_assets.dbt.control.watch_parent`), when asked
(``{"type": "stop"}``), or on SIGTERM.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import select
import shutil
import socket
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orch_assets.dbt.control import exit_now, watch_parent
from orch_assets.dbt.gated_main import GATE_FILE, run_gated
from orch_assets.dbt.worker_client import EXIT_LINE
from orch_assets.startup import frozen_imports

# Commands that run on a parsed manifest (the rest, e.g. `deps`, `debug`, `clean`, run as dbt).
MANIFEST_COMMANDS = frozenset(
    {"build", "run", "test", "seed", "snapshot", "compile", "list", "ls", "run-operation", "show"}
)
_PARSE_FLAGS = ("--project-dir", "--profiles-dir", "--profile", "--target", "-t")
CANCEL_POLL_S = 0.2


def flag_value(args: Sequence[str], *names: str) -> str | None:
    """The value of the last ``--name value`` or ``--name=value`` among ``args``."""
    found: str | None = None
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                found = args[index + 1]
            elif arg.startswith(f"{name}="):
                found = arg.split("=", 1)[1]
    return found


def command_of(args: Sequence[str]) -> str | None:
    """dbt's subcommand: the first argument that is not a flag or a flag's value."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("-"):
            # Global flags before the command that take a value (dagster-dbt passes none).
            skip = "=" not in arg and arg in ("--log-format", "--log-level", "--profiles-dir")
        else:
            return arg
    return None


class Worker:
    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec
        self._parse_key: tuple[Any, ...] | None = None
        self._manifest: Any = None

    # -- parsing ---------------------------------------------------------------------------
    def _key(self, args: Sequence[str]) -> tuple[Any, ...]:
        env = os.environ
        values = [flag_value(args, *names) for names in (("--profile",), ("--target", "-t"))]
        return (
            _path(flag_value(args, "--project-dir") or env.get("DBT_PROJECT_DIR") or os.getcwd()),
            _path(flag_value(args, "--profiles-dir") or env.get("DBT_PROFILES_DIR")),
            *values,
            flag_value(args, "--vars") if self.spec.get("reparse_on_vars", True) else None,
        )

    def manifest_for(self, args: Sequence[str]) -> Any:
        """The parsed project for ``args``: reused, or parsed now (dbt's output goes to the
        command's, as a plain ``dbt build`` prints its parse)."""
        key = self._key(args)
        if key != self._parse_key:
            from dbt.cli.main import dbtRunner

            parse = ["parse", *(a for a in _parse_args(args))]
            first = self._manifest is None
            result = dbtRunner().invoke(parse)
            if not result.success:
                self._parse_key, self._manifest = None, None
                return None
            self._parse_key, self._manifest = key, result.result
            if first:
                # The step's manifest lives as long as the worker: later collections skip it
                # (a re-parse's manifest is not frozen, so that the one it replaces can go).
                gc.freeze()
        return self._manifest

    def parse_ahead(self, parse: Mapping[str, Any]) -> None:
        """Parses the project before the first command asks (the resource's project, profiles
        directory, profile and target; no vars), into a target directory of the worker's own
        seeded with the project's partial-parse state; a command whose parse key matches uses
        it. A failure here is left for the command to meet (and print)."""
        from dbt.cli.main import dbtRunner

        target = Path(parse["target_path"])
        target.mkdir(parents=True, exist_ok=True)
        seed = Path(parse["partial_parse"]) if parse.get("partial_parse") else None
        if seed is not None and seed.is_file():
            shutil.copy2(seed, target / seed.name)
        args = ["--project-dir", parse["project_dir"], "--profiles-dir", parse["profiles_dir"]]
        for flag in ("profile", "target"):
            if parse.get(flag):
                args += [f"--{flag}", parse[flag]]
        result = dbtRunner().invoke(["parse", *args, "--target-path", str(target), "--quiet"])
        if result.success:
            self._parse_key = (
                _path(parse["project_dir"]), _path(parse["profiles_dir"]), parse.get("profile"),
                parse.get("target"), None,
            )  # fmt: skip
            self._manifest = result.result
            gc.freeze()

    # -- requests --------------------------------------------------------------------------
    def invoke(self, connection: socket.socket, request: Mapping[str, Any]) -> None:
        args = [str(a) for a in request["args"]]
        os.environ.clear()
        os.environ.update(request.get("env") or {})
        os.chdir(self.spec.get("cwd") or request.get("cwd") or os.getcwd())
        target = Path(os.environ.get("DBT_TARGET_PATH") or "target")
        gate_file = target / GATE_FILE
        settings = json.loads(gate_file.read_text()) if gate_file.is_file() else None
        watcher = _CancelWatch(connection)
        saved = os.dup(1)
        sys.stdout.flush()
        os.dup2(connection.fileno(), 1)
        try:
            code = self._run(args, settings, target)
        except Exception:
            # dbt's own failures are exit codes; this is the worker's: the command fails, the
            # traceback goes to the worker's log (which orch-dbt prints if the worker dies).
            traceback.print_exc()
            code = 2
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            watcher.stop()
        connection.sendall(EXIT_LINE + f"{code}\n".encode())

    def _run(self, args: list[str], settings: Mapping[str, Any] | None, target: Path) -> int:
        manifest = None
        if command_of(args) in MANIFEST_COMMANDS:
            manifest = self.manifest_for(args)
            if manifest is None:
                return 2
        if settings is None:
            from dbt.cli.main import dbtRunner

            result = dbtRunner(manifest=manifest).invoke(args)
            code = 0 if result.success else (2 if result.result is None else 1)
        else:
            code = run_gated(args, settings, target, manifest=manifest)
        if manifest is not None and not (target / "manifest.json").exists():
            manifest.write(str(target / "manifest.json"))
        release_database_files()
        return code

    def call(self, connection: socket.socket, request: Mapping[str, Any]) -> None:
        module_name, _, name = str(request["function"]).partition(":")
        try:
            function = getattr(importlib.import_module(module_name), name)
            answer: dict[str, Any] = {"result": function(**(request.get("kwargs") or {}))}
        except Exception as error:  # the caller's error, reported to the caller
            answer = {"error": f"{type(error).__name__}: {error}"}
        connection.sendall(json.dumps(answer, default=str).encode() + b"\n")

    def serve(self, listener: socket.socket) -> None:
        while True:
            connection, _ = listener.accept()
            with connection, connection.makefile("rb") as reader:
                line = reader.readline()
                if not line:
                    continue
                request = json.loads(line)
                if request["type"] == "invoke":
                    self.invoke(connection, request)
                elif request["type"] == "call":
                    self.call(connection, request)
                elif request["type"] == "stop":
                    connection.sendall(b"{}\n")
                    return


def release_database_files() -> None:
    """Closes the DuckDB file dbt-duckdb keeps open after a command (its ``keep_open``, true by
    default, keeps the connection for the next command of the same process), so that between
    commands the worker holds the file no more than a finished ``dbt`` process does: dagster-dbt's
    ``fetch_row_counts()``, a reader or another step can open it; the next command opens it again
    (milliseconds). A connection a function of yours opened in the worker (``call_in_worker``)
    keeps the database open, as it should. No-op for other adapters."""
    module = sys.modules.get("dbt.adapters.duckdb.connections")
    manager = getattr(module, "DuckDBConnectionManager", None)
    if manager is None:
        return
    with manager._LOCK:  # noqa: SLF001 - dbt-duckdb's own lock around its environment
        environment, manager._ENV = manager._ENV, None  # noqa: SLF001
    if environment is not None:
        environment.close()


def _path(value: str | None) -> str | None:
    return os.path.normpath(os.path.abspath(value)) if value else None


def _parse_args(args: Sequence[str]) -> list[str]:
    """The flags of ``args`` that decide the parse, plus ``--vars`` (vars may shape configs)."""
    kept: list[str] = []
    for name in (*_PARSE_FLAGS, "--vars"):
        value = flag_value(args, name)
        if value is not None:
            kept += [name, value]
    return kept


class _CancelWatch:
    """Ends the worker when the client's connection closes before its command has ended."""

    def __init__(self, connection: socket.socket) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(connection,), daemon=True)
        self._thread.start()

    def _watch(self, connection: socket.socket) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([connection], [], [], CANCEL_POLL_S)
            if readable and not self._stop.is_set():
                try:
                    closed = connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    closed = True
                if closed:
                    exit_now("the dbt command was interrupted (its orch-dbt process is gone)")
                time.sleep(CANCEL_POLL_S)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    if spec.get("parent_pid"):
        watch_parent(int(spec["parent_pid"]))
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(spec["socket"])
    listener.listen(8)
    # Ready once listening: a request waits in the backlog while dbt is imported (and the
    # project parsed), and the step goes on with its own preparation meanwhile.
    os.write(1, (json.dumps({"pid": os.getpid()}) + "\n").encode())
    # Nothing more goes to the parent's pipe: fd 1 is each command's connection in turn.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    # Frozen: the collector never re-scans dbt's modules (orch_assets/startup.py).
    with frozen_imports():
        from dbt.cli.main import dbtRunner  # noqa: F401
    worker = Worker(spec)
    if spec.get("parse"):
        worker.parse_ahead(spec["parse"])
    worker.serve(listener)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
