"""``orch-dbt``: the dbt executable of :class:`~orch_assets.dbt.GatedDbtCliResource`.

dagster-dbt runs ``<dbt_executable> <args>`` as a subprocess with ``--log-format json`` and reads
its stdout. This program takes dbt's place: it runs the same ``dbt <args>`` in this process
(``dbtRunner``), so the output, exit code and artifacts are dbt's own, but with dbt's thread
pool behind the class gate of :mod:`orch_assets.dbt.gate`. Without a gate file it is plain dbt
(``orch-dbt --version`` is ``dbt --version``).

The resource writes the gate file ``orch_gate.json`` into the invocation's ``DBT_TARGET_PATH``
(class limits, the class of each node, the live cap at start) and rewrites ``orch_cap`` there
whenever the cap changes; this process polls it every :data:`CAP_POLL_S`. With ``run_slots``
in the gate file (the run's slot directory), the limits hold across every gated dbt process of
the run (:mod:`orch_assets.dbt.run_slots`). Two kinds of lines are
added to stdout, in dbt's JSON log shape so that dagster-dbt parses them and makes no asset event
of them: :data:`ADMITTED_EVENT` when a node is handed to dbt's pool (its class and seconds
waited for a slot) and :data:`CAP_EVENT` once per change of the cap.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

GATE_FILE = "orch_gate.json"
CAP_FILE = "orch_cap"
ADMITTED_EVENT = "OrchNodeAdmitted"
CAP_EVENT = "OrchCapChanged"
CAP_POLL_S = 0.25
# When dbt's pool does not say its size.
_NO_CEILING = 1_000_000


def emit(name: str, level: str, msg: str, data: Mapping[str, Any]) -> None:
    """One line in dbt's JSON log shape, written in one ``write`` (lines of dbt's threads
    never interleave with it)."""
    info = {
        "name": name, "level": level, "msg": msg, "code": "", "category": "", "extra": {},
        "invocation_id": "", "pid": os.getpid(), "thread": threading.current_thread().name,
        "ts": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
    }  # fmt: skip
    line = json.dumps({"info": info, "data": dict(data)}, default=str) + "\n"
    os.write(1, line.encode())


def write_cap(target_path: Path, cap: int) -> None:
    """The resource's side: the live cap for a running invocation (atomic replace)."""
    temporary = target_path / f".{CAP_FILE}.{os.getpid()}.{threading.get_ident()}"
    temporary.write_text(str(int(cap)))
    os.replace(temporary, target_path / CAP_FILE)


def _read_cap(target_path: Path) -> int | None:
    try:
        text = (target_path / CAP_FILE).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _follow_cap(gate: Any, target_path: Path, stop: threading.Event) -> None:
    while not stop.is_set():
        cap = _read_cap(target_path)
        if cap is not None:
            gate.set_cap(cap)
        stop.wait(CAP_POLL_S)


def _retry_waiting(gate: Any, stop: threading.Event) -> None:
    from orch_assets.dbt.run_slots import SLOT_POLL_S

    while not stop.wait(SLOT_POLL_S):
        gate.wake()


def run_gated(
    args: list[str], settings: Mapping[str, Any], target_path: Path, manifest: Any = None
) -> int:
    """Runs ``dbt <args>`` in this process with dbt's thread pool behind the class gate; dbt's
    exit code. ``manifest``: a parsed project to run with instead of parsing again (the worker,
    :mod:`orch_assets.dbt.worker`)."""
    from dbt.cli.main import dbtRunner

    from orch_assets.dbt._dbt_internals import pool_size, wrapped_thread_pool
    from orch_assets.dbt.classes import node_class
    from orch_assets.dbt.gate import Gate, GatedPool
    from orch_assets.dbt.run_slots import RunSlots

    default = settings.get("default_execution_class")

    def on_cap_change(old: int, new: int) -> None:
        emit(CAP_EVENT, "info", f"dbt models: live cap {old} -> {new}; no new model starts "
             f"beyond {new} at once", {"previous": old, "cap": new})  # fmt: skip

    limits = {name: (None if v is None else int(v)) for name, v in settings["class_limits"].items()}
    gates: list[Gate] = []
    stop = threading.Event()

    class ReportingPool(GatedPool):
        def _submit(self, item: Any) -> None:
            wait = max(0.0, (item.admitted or item.ready) - item.ready)
            emit(ADMITTED_EVENT, "debug", f"{item.unique_id} started after {wait:.3f} s for a slot",
                 {"node_info": {"unique_id": item.unique_id}, "execution_class":
                  item.execution_class, "ready": item.ready, "admitted": item.admitted,
                  "wait_s": round(wait, 3)})  # fmt: skip
            super()._submit(item)

    def wrap(pool: Any) -> GatedPool:
        if not gates:
            # dbt's --threads (the size of its pool) is the gate's ceiling.
            threads = pool_size(pool) or _NO_CEILING
            cap = _read_cap(target_path) or settings.get("cap")
            slots = RunSlots(settings["run_slots"]) if settings.get("run_slots") else None
            gates.append(Gate(limits, threads, cap, on_cap_change, run_slots=slots))
            threading.Thread(
                target=_follow_cap, args=(gates[0], target_path, stop), daemon=True
            ).start()
            if slots is not None:
                threading.Thread(target=_retry_waiting, args=(gates[0], stop), daemon=True).start()
        return ReportingPool(pool, gates[0], classify=lambda node: node_class(node, default))

    try:
        with wrapped_thread_pool(wrap):
            result = dbtRunner(manifest=manifest).invoke(args)
    finally:
        stop.set()
    if result.success:
        return 0
    # dbt's own exit codes: 1 a node failed, 2 dbt itself failed.
    return 2 if result.exception is not None and result.result is None else 1


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    target = os.environ.get("DBT_TARGET_PATH")
    gate_file = Path(target) / GATE_FILE if target else None
    if gate_file is None or not gate_file.is_file():
        from dbt.cli.main import cli

        return cli.main(args=args, prog_name="dbt")
    settings = json.loads(gate_file.read_text())
    if settings.get("worker"):
        # The step's dbt worker runs the command; this process relays its output.
        from orch_assets.dbt.worker_client import relay

        return relay(settings["worker"], args, settings.get("worker_log"))
    if settings.get("cwd"):
        os.chdir(settings["cwd"])
    return run_gated(args, settings, gate_file.parent)


if __name__ == "__main__":
    sys.exit(main())
