"""``orch-dbt``'s side of a step's dbt worker: send the command, relay dbt's output, exit with
dbt's code. Imports nothing but the standard library, so the process starts in milliseconds.

The worker (:mod:`orch_assets.dbt.worker`) runs the command with this process's arguments,
environment and working directory and writes exactly what ``dbt`` would print; a last line
``\\0orch-exit <code>`` carries the exit code. If this process is killed (dagster-dbt interrupts a
command with a signal), the worker sees the connection close and ends the command.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

EXIT_LINE = b"\x00orch-exit "
# dbt's exit code when dbt itself (not a node) failed.
DBT_FAILED = 2


def request_line(payload: dict[str, object]) -> bytes:
    return json.dumps(payload).encode() + b"\n"


def _log_tail(log_path: str | None, lines: int = 30) -> str:
    try:
        text = Path(log_path).read_text(errors="replace") if log_path else ""
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def relay(socket_path: str, args: list[str], log_path: str | None = None) -> int:
    """Runs ``dbt <args>`` in the worker listening at ``socket_path``; dbt's exit code."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(socket_path)
    except OSError as error:
        sys.stderr.write(f"orch-dbt: the step's dbt worker ({socket_path}) is gone: {error}\n")
        return DBT_FAILED
    payload = {"type": "invoke", "args": args, "env": dict(os.environ), "cwd": os.getcwd()}
    connection.sendall(request_line(payload))
    out = sys.stdout.buffer
    with connection, connection.makefile("rb") as output:
        for line in output:
            if line.startswith(EXIT_LINE):
                out.flush()
                return int(line[len(EXIT_LINE) :])
            out.write(line)
            out.flush()
    tail = _log_tail(log_path)
    sys.stderr.write(
        "orch-dbt: the step's dbt worker ended during the command"
        + (f"; its log ends:\n{tail}\n" if tail else "\n")
    )
    return DBT_FAILED
