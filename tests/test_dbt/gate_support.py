"""Runs the gate fixture project (tests/test_dbt/gate_project) through ``GatedDbtCliResource``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import duckdb

from orch_assets.dbt import GatedDbtCliInvocation, GatedDbtCliResource

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
    class_limits: Mapping[str, int | None] | None = None,
    gate: bool = True,
    on_event: Callable[[GatedDbtCliInvocation, dict[str, Any]], None] | None = None,
) -> GatedDbtCliInvocation:
    """Builds the fixture once into ``tmp/workforce.duckdb`` (one ``orch-dbt`` process: no step,
    so no worker); returns the finished invocation (its node timings and cap changes)."""
    tmp.mkdir(parents=True, exist_ok=True)
    dbt = GatedDbtCliResource(
        project_dir=str(GATE_PROJECT), profiles_dir=str(GATE_PROJECT), worker_cwd=str(tmp),
        class_limits=dict(class_limits or DEFAULT_LIMITS), gate=gate,
    )  # fmt: skip
    invocation = dbt.cli(["build", "--threads", str(threads)], target_path=tmp / "dbt_target")
    for event in invocation.stream_raw_events():
        if on_event is not None:
            on_event(invocation, event.raw_event)
    assert invocation.is_successful()
    return invocation


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
