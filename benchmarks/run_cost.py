"""Benchmark: CPU and wall of one simulation run, this checkout against an earlier revision.

    .venv/bin/python benchmarks/run_cost.py --baseline fd6dcb2 --repeats 5
    .venv/bin/python benchmarks/run_cost.py --baseline fd6dcb2 --employees 100000 --years 3

Each repeat runs `dagster job execute -j workforce_simulation` once with this checkout's code and
once with the baseline's (a git worktree of --baseline, removed at exit), alternating which goes
first, each on fresh DuckDB files and a fresh DAGSTER_HOME. Measured per run: wall of the CLI
process, and CPU seconds (user + system) of the CLI and every process it waited for (the dbt
worker included), from ``os.wait4``. Reported: medians, the ratio this/baseline, the wall
seconds of year one and of a later year as the worker logged them, and whether every run gave identical
outputs (fingerprint of fct_workforce_snapshot and fct_yearly_events).

The default shape, 300 employees x 2 years, is the one most tests use: there the fixed costs per
simulation (Python and dbt start-up, one dbt node at a time) dominate, not the data.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

# The baseline worktree, the dbt parse, the job's command and the output fingerprint, as in the
# model-gate benchmark.
from simulation_runs import checkout, fingerprint, parse_project, run_job_command

REPO = Path(__file__).resolve().parents[1]
YEAR_DONE = re.compile(r"Year (\d{4}) done in ([\d.]+) s")


def run_job(repo: Path, work: Path, employees: int, years: int, threads: int) -> dict[str, Any]:
    output, wall, cpu = run_job_command(work, repo, employees, years, threads)
    years_s = {int(y): float(s) for y, s in YEAR_DONE.findall(output)}
    return {
        "wall": wall,
        "cpu": cpu,
        "year_one": years_s.get(2025, float("nan")),
        "later_year": statistics.median([s for y, s in years_s.items() if y > 2025] or [0.0]),
        "fingerprint": fingerprint(work / "data" / "baseline" / "workforce.duckdb"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="git revision to compare against")
    parser.add_argument("--employees", type=int, default=300)
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    parse_project(REPO)
    repos = {"this": REPO, "baseline": checkout(args.baseline)}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in repos}
    with tempfile.TemporaryDirectory(prefix="bench-run-cost-") as tmp:
        for repeat in range(args.repeats):
            order = list(repos) if repeat % 2 == 0 else list(reversed(repos))
            for name in order:
                work = Path(tmp) / f"{name}-{repeat}"
                result = run_job(repos[name], work, args.employees, args.years, args.threads)
                results[name].append(result)
                shutil.rmtree(work, ignore_errors=True)
                print(f"repeat {repeat + 1} {name}: wall {result['wall']:.2f} s, "
                      f"CPU {result['cpu']:.2f} s", flush=True)  # fmt: skip

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    print(f"\n{args.employees} employees x {args.years} years, dbt threads {args.threads}, "
          f"medians of {args.repeats}; baseline {args.baseline}")  # fmt: skip
    print("| measure | this | baseline | this / baseline |\n|---|---|---|---|")
    for key, label in (("wall", "run wall s"), ("cpu", "run CPU s (CLI + worker)"),
                       ("year_one", "year one s (worker log)"),
                       ("later_year", "later year s (worker log)")):  # fmt: skip
        this, base = med("this", key), med("baseline", key)
        print(f"| {label} | {this:.2f} | {base:.2f} | {this / base:.3f} |")
    prints = {r["fingerprint"] for runs in results.values() for r in runs}
    print(f"\noutputs identical across all {2 * args.repeats} runs: {len(prints) == 1}")


if __name__ == "__main__":
    main()
