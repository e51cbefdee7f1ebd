"""Benchmark: what publishing each year's marts as Parquet costs a simulation, side by side.

    .venv/bin/python benchmarks/publish.py --employees 100000 --years 3 --repeats 3

Each repeat runs the simulation's dbt worker (one dbt start-up, all years, no Dagster) twice on
fresh DuckDB files with the same inputs, interleaved: without publishing, and publishing every
finished year's marts to ``results/`` (orch_assets/simulation/publish.py). Reported: median wall of
each, their ratio, and the median seconds the worker spent publishing (its ``published``
messages, start-of-run sync included).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from orch_assets.dbt.runner import WorkerProcess, WorkerRequest
from orch_assets.simulation.published import published_tables, results_dir

BIN = Path(sys.executable).parent
DBT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"


def run_worker(
    work: Path, employees: int, years: int, threads: int, publish: bool
) -> dict[str, Any]:
    db = work / "workforce.duckdb"
    manifest = json.loads((DBT_DIR / "target" / "manifest.json").read_text())
    request = WorkerRequest(
        project_dir=DBT_DIR,
        profiles_dir=DBT_DIR,
        partial_parse_seed=DBT_DIR / "target" / "partial_parse.msgpack",
        database_path=db,
        target_path=work / "dbt_target",
        log_path=work / "dbt_logs",
        years=list(range(2025, 2025 + years)),
        threads=threads,
        vars={"start_year": 2025, "n_employees": employees, "random_seed": 42},
        publish={"results_dir": str(results_dir(db)), "tables": published_tables(manifest)}
        if publish
        else None,
    )
    started = time.perf_counter()
    publish_seconds = 0.0
    for message in WorkerProcess(request).messages():
        if message["type"] == "published":
            publish_seconds += message["seconds"]
    return {"wall": time.perf_counter() - started, "publish": publish_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    subprocess.run(
        [str(BIN / "dbt"), "parse", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
         "--quiet"], check=True,
    )  # fmt: skip
    results: dict[str, list[dict[str, Any]]] = {"off": [], "publish": []}
    print(f"{args.years} years x {args.employees} employees, dbt threads {args.threads}, "
          f"{args.repeats} repeats (interleaved)")  # fmt: skip
    for repeat in range(args.repeats):
        for name, rows in results.items():
            with tempfile.TemporaryDirectory(prefix=f"bench-publish-{name}-") as work:
                result = run_worker(
                    Path(work), args.employees, args.years, args.threads, name == "publish"
                )
            rows.append(result)
            print(f"  repeat {repeat + 1} {name:8s} wall {result['wall']:6.2f} s, "
                  f"publishing {result['publish']:.2f} s", flush=True)  # fmt: skip
    off = statistics.median(r["wall"] for r in results["off"])
    on = statistics.median(r["wall"] for r in results["publish"])
    publishing = statistics.median(r["publish"] for r in results["publish"])
    print(f"\nmedian wall: without {off:.2f} s, publishing {on:.2f} s (ratio {on / off:.3f})")
    print(
        f"median time spent publishing: {publishing:.2f} s ({publishing / args.years:.2f} s a year)"
    )


if __name__ == "__main__":
    main()
