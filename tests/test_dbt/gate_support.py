"""Runs the real dbt worker on the gate fixture project (tests/test_dbt/gate_project)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import duckdb

from orch_assets.dbt.runner import WorkerProcess, WorkerRequest

GATE_PROJECT = Path(__file__).resolve().with_name("gate_project")
DEFAULT_LIMITS = {"sequential": 1, "conditional": 2, "parallel_safe": None}


def parse_gate_project() -> None:
    dbt = Path(sys.executable).with_name("dbt")
    subprocess.run(
        [str(dbt), "parse", "--project-dir", str(GATE_PROJECT), "--profiles-dir",
         str(GATE_PROJECT), "--quiet"],
        check=True,
    )  # fmt: skip


def run_gate_project(
    tmp: Path,
    threads: int = 4,
    scheduling: Mapping[str, Any] | None = None,
    on_message: Callable[[WorkerProcess, dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Builds the fixture once; returns its node timings and every protocol message."""
    request = WorkerRequest(
        project_dir=GATE_PROJECT,
        profiles_dir=GATE_PROJECT,
        partial_parse_seed=GATE_PROJECT / "target" / "partial_parse.msgpack",
        database_path=tmp / "workforce.duckdb",
        target_path=tmp / "dbt_target",
        log_path=tmp / "dbt_logs",
        years=[2025],
        threads=threads,
        scheduling={
            "gated": True,
            "class_limits": DEFAULT_LIMITS,
            **(scheduling or {}),
        },
    )
    worker = WorkerProcess(request)
    messages = []
    for message in worker.messages():
        message["received_at"] = time.time()
        messages.append(message)
        if on_message is not None:
            on_message(worker, message)
    timings = next(m["timings"] for m in messages if m["type"] == "node_timings")
    return timings, messages


def models(timings: list[dict[str, Any]], execution_class: str) -> list[dict[str, Any]]:
    return [t for t in timings if t["execution_class"] == execution_class]


def overlaps(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


def any_overlap(timings: list[dict[str, Any]]) -> bool:
    return any(overlaps(a, b) for i, a in enumerate(timings) for b in timings[i + 1 :])


def table_contents(database: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        names = [
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        ]
        return {n: sorted(con.execute(f'select * from "{n}"').fetchall()) for n in sorted(names)}
    finally:
        con.close()
