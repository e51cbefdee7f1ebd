"""Runs several dbt commands with one in-process ``dbtRunner``, for tests, in a process of its own.

``python -m tests.test_dbt.dbt_invoke SPEC_JSON``: SPEC has ``project_dir``, ``target_path``,
``invocations`` (lists of dbt arguments) and ``output`` (a file). The project is parsed once; each
invocation reuses the manifest, as the simulation's worker does, so each one's ``--vars`` are
rendered when its nodes compile. Writes to ``output`` a JSON list, per invocation: ``success``,
``exception`` and one ``"<unique_id>: <status>: <message>"`` per node. Run it with the DuckDB file's directory as the
working directory (the profile's path is relative); dbt-duckdb keeps the file open until the
process ends, so the caller reads it after this process has exited.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run(spec: dict[str, Any]) -> list[dict[str, Any]]:
    from dbt.cli.main import dbtRunner

    common = [
        "--project-dir", spec["project_dir"],
        "--profiles-dir", spec["project_dir"],
        "--target-path", spec["target_path"],
        "--log-path", spec["target_path"],
        "--quiet",
    ]  # fmt: skip
    parsed = dbtRunner().invoke(["parse", *common])
    if not parsed.success:
        raise RuntimeError(f"dbt parse failed: {parsed.exception}")
    runner = dbtRunner(manifest=parsed.result)
    outcomes = []
    for args in spec["invocations"]:
        result = runner.invoke([*args, *common])
        nodes = [
            f"{r.node.unique_id}: {r.status}: {r.message}"
            for r in getattr(result.result, "results", None) or []
        ]
        outcomes.append(
            {
                "success": result.success,
                "exception": str(result.exception) if result.exception else None,
                "nodes": nodes,
            }
        )
    return outcomes


def run_in_subprocess(spec: dict[str, Any], cwd: Path) -> list[dict[str, Any]]:
    """Runs ``spec`` in a fresh process (its working directory ``cwd``) and returns the outcomes."""
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "tests.test_dbt.dbt_invoke", json.dumps(spec)],
        cwd=cwd, env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    with open(spec["output"]) as f:
        return json.load(f)


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    outcomes = run(spec)
    with open(spec["output"], "w") as f:
        json.dump(outcomes, f)
