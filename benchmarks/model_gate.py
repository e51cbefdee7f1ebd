"""Benchmark: models under execution classes and the live cap, and once-per-simulation inputs.

    .venv/bin/python benchmarks/model_gate.py --employees 100000 --years 5 --repeats 3 --job

Part 1, the simulation's years as its step runs them (``GatedDbtCliResource``: one dbt worker,
one ``dbt build`` per year; simulation_runs.run_years, a one-op job in this process),
configurations interleaved per repeat (the order rotating from one repeat to the next), each on
fresh DuckDB files, after one small uncounted warm-up run:
  plain          ungated: dbt's own --threads pool (the resource's ``gate: false``, what
                 ``ORCH_MODEL_GATE=off`` gives the simulation)
  gated          class limits (sequential 1, conditional 2, parallel_safe up to the cap) + cap
  gated-nolimits the gate with no class limits (cap only): the cost of the mechanism alone,
                 so that `gated` minus this is the cost of the class limits themselves
  gated-yearly   gated, but the year-independent inputs built and tested every year (before the
                 once-per-simulation rule)
Per configuration: medians of the total and per-year wall, Σ model seconds, Σ test seconds and
Σ of the years' critical paths, and ratios against `plain`. (The critical-path-first order of
earlier versions, `gated+cp`, is gone with the worker API it needed: dbt's own order runs.)

Part 2 (--job): `dagster job execute -j workforce_simulation` of this checkout, gated and with
``ORCH_MODEL_GATE=off``, and, unless ``--before-ref ''``, of the code of --before-ref (a git
revision of this repository, checked out in a temporary worktree; default 3e11232, the code
before execution classes governed the dbt models), interleaved: the before/after of the whole
change and the gate's share of it.
All runs must give identical outputs (fingerprint of the snapshot and events tables).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from simulation_runs import (
    BIN,
    DBT_DIR,
    REPO,
    YearsOptions,
    checkout,
    run_job,
    run_years,
    warm_up,
)

from orch_assets.executor.config import DEFAULT_CLASS_LIMITS

# The commit before execution classes governed the dbt models (issue 10): part 2's "before".
BEFORE_REF = "3e11232"
NO_LIMITS: dict[str, int | None] = dict.fromkeys(DEFAULT_CLASS_LIMITS)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(results: dict[str, list[dict[str, Any]]], years: int) -> None:
    reference = "plain" if "plain" in results else next(iter(results))
    plain = median([r["wall"] for r in results[reference]])
    print(f"\n| config | wall s | vs {reference} | per-year wall s | Σ model s | Σ test s | "
          "Σ critical path s | critical/wall |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        wall = median([r["wall"] for r in runs])
        per_year = [median([r["years"][i]["wall"] for r in runs]) for i in range(years)]
        sums = {k: median([sum(y[k] for y in r["years"]) for r in runs])
                for k in ("models", "tests", "critical")}  # fmt: skip
        year_wall = sum(per_year)
        print(f"| {name} | {wall:.1f} | {wall / plain:.3f} | "
              f"{' / '.join(f'{w:.1f}' for w in per_year)} | {sums['models']:.1f} | "
              f"{sums['tests']:.1f} | {sums['critical']:.1f} | "
              f"{sums['critical'] / year_wall:.2f} |")  # fmt: skip


def run_jobs(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Part 2: each job configuration once per repeat, the order rotating; prints the table."""
    configs: dict[str, tuple[Path, dict[str, str]]] = {
        "after": (REPO, {}),
        "after, ORCH_MODEL_GATE=off": (REPO, {"ORCH_MODEL_GATE": "off"}),
    }
    if args.before_ref:
        configs = {f"before ({args.before_ref})": (checkout(args.before_ref), {}), **configs}
    print(f"\nPart 2: dagster job execute ({REPO})")
    jobs: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    names = list(configs)
    for repeat in range(args.repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            repo, env = configs[name]
            with tempfile.TemporaryDirectory(prefix="bench-job-") as work:
                result = run_job(Path(work), repo, args.employees, args.years, args.threads, env)
            jobs[name].append(result)
            print(f"  repeat {repeat + 1} {name:28s} wall {result['wall']:7.2f} s, "
                  f"CPU {result['cpu']:7.2f} s", flush=True)  # fmt: skip
    after = median([r["wall"] for r in jobs["after"]])
    print("\n| job | median wall s | median CPU s | wall vs after |\n|---|---|---|---|")
    for name, runs in jobs.items():
        wall = median([r["wall"] for r in runs])
        cpu = median([r["cpu"] for r in runs])
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {wall / after:.3f} |")
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--job", action="store_true", help="also part 2 (dagster job execute)")
    parser.add_argument(
        "--before-ref", default=BEFORE_REF, help="git revision for part 2's before ('': none)"
    )
    parser.add_argument("--configs", nargs="+", help="part 1 configurations to run (default all)")
    args = parser.parse_args()
    subprocess.run(
        [str(BIN / "dbt"), "parse", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
         "--quiet"], check=True,
    )  # fmt: skip
    configs: dict[str, dict[str, Any]] = {
        "plain": {"gate": False},
        "gated": {},
        "gated-nolimits": {"class_limits": NO_LIMITS},
        "gated-yearly": {"once_per_simulation": False},
    }
    if args.configs:
        unknown = set(args.configs) - set(configs)
        if unknown:
            parser.error(f"--configs: unknown {sorted(unknown)}; allowed: {', '.join(configs)}")
        configs = {name: configs[name] for name in args.configs}
    print(f"Part 1: {args.years} years x {args.employees} employees, dbt threads {args.threads}, "
          f"{args.repeats} repeats (interleaved), {os.cpu_count()} CPUs shared with other work, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    warm_up()
    names = list(configs)
    for repeat in range(args.repeats):
        # The order rotates each repeat, so no configuration always runs first or after another.
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            options = YearsOptions(args.employees, args.years, args.threads, **configs[name])
            with tempfile.TemporaryDirectory(prefix=f"bench-gate-{name}-") as work:
                result = run_years(Path(work), options)
            results[name].append(result)
            print(
                f"  repeat {repeat + 1} {name:14s} wall {result['wall']:7.2f} s",
                flush=True,
            )
    report(results, args.years)
    print(f"load average after part 1: {os.getloadavg()[0]:.1f}")
    prints = {r["fingerprint"] for runs in results.values() for r in runs}
    if args.job:
        jobs = run_jobs(args)
        prints |= {r["fingerprint"] for runs in jobs.values() for r in runs}
    print(f"outputs identical across all runs: {len(prints) == 1}")


if __name__ == "__main__":
    main()
