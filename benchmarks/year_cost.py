"""Benchmark: a simulated year's cost, this checkout against a baseline revision, through the CLI.

    .venv/bin/python benchmarks/year_cost.py --baseline main --employees 100000 --years 5 --repeats 3

Each repeat runs `dagster job execute -j workforce_simulation` once with this checkout's code and
once with the baseline's (a git worktree of --baseline, removed at exit; simulation_runs.checkout),
alternating which goes first, each on fresh DuckDB files and a fresh DAGSTER_HOME; and, as often,
`python -c "import orch_assets.definitions"` of each (the code location's import, which
`dagster job execute` pays before RUN_START). Per run: the wall and the CPU (user + system of the
CLI and every process it waited for, the dbt worker included) of the CLI; and per year, from the
CLI output and the dbt worker's log (`dbt_logs/dbt.log`, one `Running with dbt=` per year's build,
a line per finished node with its seconds), the worker's wall, Σ model seconds, Σ test seconds,
the node count and the critical path (the longest chain of dependent nodes, by their seconds,
through the manifest's `depends_on`). Reported: medians, ratios this/baseline, and whether every
run gave identical outputs (fingerprint of fct_workforce_snapshot and fct_yearly_events).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from simulation_runs import checkout, fingerprint, parse_project, run_job_command

REPO = Path(__file__).resolve().parents[1]
YEAR_DONE = re.compile(r"Year (\d{4}) done in ([\d.]+) s")
BUILD_START = "Running with dbt="
# "12 of 55 OK created sql table model main.int_x .... [OK in 0.65s]", "8 of 55 PASS test_name ...
# [PASS in 0.40s]" (no dots after a long name), "5 of 55 OK loaded seed file main.departments ...
# [INSERT 6 in 0.73s]"
NODE_DONE = re.compile(r"\d+ of \d+ (?!START)(.*?)[ .]*\[[^\]]*? in ([\d.]+)s\]")


def year_nodes(log: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Per build in the worker's log: node count, Σ model and test seconds, critical path."""
    by_name = {p["name"]: uid for uid, p in manifest["nodes"].items()}
    builds: list[dict[str, float]] = []
    for line in log.read_text().splitlines():
        if BUILD_START in line:
            builds.append({})
        elif (found := NODE_DONE.search(line)) and builds:
            name = found.group(1).split()[-1].split(".")[-1]
            if name in by_name:
                builds[-1][by_name[name]] = float(found.group(2))
    return [
        {
            "nodes": len(seconds),
            "models": sum(s for u, s in seconds.items() if u.startswith("model.")),
            "tests": sum(s for u, s in seconds.items() if u.startswith("test.")),
            "critical": critical_path(seconds, manifest),
        }
        for seconds in builds
        if seconds
    ]


def critical_path(seconds: dict[str, float], manifest: dict[str, Any]) -> float:
    """The longest chain of dependent nodes of one build, by their seconds."""
    finish: dict[str, float] = {}

    def chain(uid: str) -> float:
        if uid not in finish:
            parents = manifest["nodes"][uid].get("depends_on", {}).get("nodes", [])
            finish[uid] = seconds[uid] + max(
                (chain(p) for p in parents if p in seconds), default=0.0
            )
        return finish[uid]

    return max(chain(u) for u in seconds)


def run_job(repo: Path, work: Path, employees: int, years: int, threads: int) -> dict[str, Any]:
    output, wall, cpu = run_job_command(work, repo, employees, years, threads)
    manifest = json.loads((repo / "dbt_project" / "target" / "manifest.json").read_text())
    data = work / "data" / "baseline"
    nodes = year_nodes(data / "dbt_logs" / "dbt.log", manifest)
    walls = [float(s) for _, s in YEAR_DONE.findall(output)]
    return {
        "wall": wall,
        "cpu": cpu,
        "years": [{"wall": w, **n} for w, n in zip(walls, nodes, strict=True)],
        "fingerprint": fingerprint(data / "workforce.duckdb"),
    }


def import_seconds(repo: Path) -> float:
    """Wall of a fresh interpreter importing the code location (the CLI's start-up)."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import orch_assets.definitions"], env=env, cwd=repo,
                   check=True)  # fmt: skip
    return time.perf_counter() - started


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(results: dict[str, list[dict[str, Any]]], imports: dict[str, list[float]]) -> None:
    def row(label: str, this: float, base: float) -> None:
        print(f"| {label} | {this:.2f} | {base:.2f} | {this / base:.3f} |")

    print("| measure | this | baseline | this / baseline |\n|---|---|---|---|")
    row("run wall s (CLI)", *(med([r["wall"] for r in results[n]]) for n in ("this", "baseline")))
    row(
        "run CPU s (CLI + worker)",
        *(med([r["cpu"] for r in results[n]]) for n in ("this", "baseline")),
    )
    row("import orch_assets.definitions s", med(imports["this"]), med(imports["baseline"]))
    n_years = min(len(r["years"]) for runs in results.values() for r in runs)
    for key, label in (("wall", "wall s"), ("models", "Σ model s"), ("tests", "Σ test s"),
                       ("nodes", "nodes"), ("critical", "critical path s")):  # fmt: skip
        for i in range(n_years):
            this, base = (
                med([r["years"][i][key] for r in results[n]]) for n in ("this", "baseline")
            )
            row(f"year {i + 1} {label}", this, base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", help="git revision to compare against")
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    parse_project(REPO)
    repos = {"this": REPO, "baseline": checkout(args.baseline)}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in repos}
    imports: dict[str, list[float]] = {name: [] for name in repos}
    with tempfile.TemporaryDirectory(prefix="bench-year-cost-") as tmp:
        for repeat in range(args.repeats):
            order = list(repos) if repeat % 2 == 0 else list(reversed(repos))
            for name in order:
                imports[name].append(import_seconds(repos[name]))
                work = Path(tmp) / f"{name}-{repeat}"
                result = run_job(repos[name], work, args.employees, args.years, args.threads)
                results[name].append(result)
                shutil.rmtree(work, ignore_errors=True)
                print(f"repeat {repeat + 1} {name}: wall {result['wall']:.2f} s, CPU "
                      f"{result['cpu']:.2f} s, import "
                      f"{imports[name][-1]:.2f} s", flush=True)  # fmt: skip
    print(f"\n{args.employees} employees x {args.years} years, dbt threads {args.threads}, "
          f"medians of {args.repeats} (interleaved); baseline {args.baseline}")  # fmt: skip
    report(results, imports)
    prints = {r["fingerprint"] for runs in results.values() for r in runs}
    print(f"\noutputs identical across all {2 * args.repeats} runs: {len(prints) == 1}")


if __name__ == "__main__":
    main()
