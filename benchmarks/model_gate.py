"""Benchmark: models under execution classes and the live cap, and once-per-simulation inputs.

    .venv/bin/python benchmarks/model_gate.py --employees 100000 --years 5 --repeats 3 --job

Part 1, the same dbt worker the simulation uses (no Dagster), configurations interleaved per
repeat (the order rotating from one repeat to the next), each on fresh DuckDB files:
  plain          ungated: dbt's own --threads pool (ORCH_MODEL_GATE=off)
  gated          class limits (sequential 1, conditional 2, parallel_safe up to the cap) + cap
  gated-nolimits the gate with no class limits (cap only): the cost of the mechanism alone,
                 so that `gated` minus this is the cost of the class limits themselves
  gated+cp       gated, longest remaining critical path first (node times of the previous
                 repeat, then of the worker's own earlier years)
  gated-yearly   gated, but the year-independent inputs built and tested every year (before the
                 once-per-simulation rule)
Per configuration: medians of the total and per-year wall, Σ model seconds, Σ test seconds and
Σ of the years' critical paths, and ratios against `plain`.

Part 2 (--job): `dagster job execute -j workforce_simulation` with the code of --before-ref
(a git revision of this repository, checked out in a temporary worktree; default 3e11232, the
code before execution classes governed the dbt models) against this checkout, interleaved: the
before/after of the whole change.
All runs must give identical outputs (fingerprint of the snapshot and events tables).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import yaml

from orch_assets.dbt.runner import WorkerProcess, WorkerRequest
from orch_assets.simulation.selection import (
    conditional_exclusions,
    later_years_exclusions,
    load_project_vars,
)
from orch_assets.dbt.timeline import YearTimeline
from orch_assets.executor.config import DEFAULT_CLASS_LIMITS

REPO = Path(__file__).resolve().parents[1]
DBT_DIR = REPO / "dbt_project"
BIN = Path(sys.executable).parent
# The commit before execution classes governed the dbt models (issue 10): part 2's "before".
BEFORE_REF = "3e11232"


def fingerprint(db: Path) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return json.dumps([
            con.execute(
                f"select simulation_year, count(*), sum(hash(t)) from {table} t "
                "group by all order by 1"
            ).fetchall()
            for table in ("fct_workforce_snapshot", "fct_yearly_events")
        ], default=str)  # fmt: skip
    finally:
        con.close()


def run_worker(
    work: Path,
    employees: int,
    years: int,
    threads: int,
    scheduling: dict[str, Any],
    once_per_simulation: bool,
) -> dict[str, Any]:
    manifest = json.loads((DBT_DIR / "target" / "manifest.json").read_text())
    dbt_vars = {"start_year": 2025, "n_employees": employees, "random_seed": 42}
    exclude = conditional_exclusions(manifest, dbt_vars, load_project_vars(DBT_DIR))
    later = later_years_exclusions(manifest, exclude) if once_per_simulation else []
    db = work / "workforce.duckdb"
    request = WorkerRequest(
        project_dir=DBT_DIR, profiles_dir=DBT_DIR,
        partial_parse_seed=DBT_DIR / "target" / "partial_parse.msgpack", database_path=db,
        target_path=work / "dbt_target", log_path=work / "dbt_logs",
        years=list(range(2025, 2025 + years)), threads=threads, vars=dbt_vars, exclude=exclude,
        scheduling=scheduling, later_years_exclude=later,
    )  # fmt: skip
    parents = {u: p.get("depends_on", {}).get("nodes", []) for u, p in manifest["nodes"].items()}
    started = time.perf_counter()
    year_rows = []
    for message in WorkerProcess(request).messages():
        if message["type"] == "node_timings":
            t = message["timings"]
            seconds = {x["unique_id"]: x["end"] - x["start"] for x in t}
            year_rows.append({
                "wall": message["seconds"],
                "models": sum(s for u, s in seconds.items() if u.startswith("model.")),
                "tests": sum(s for u, s in seconds.items() if u.startswith(("test.", "unit_test."))),
                "critical": YearTimeline(message["year"], t, message["seconds"]).critical_path(
                    parents)[0],
                "seconds": seconds,
            })  # fmt: skip
    return {
        "wall": time.perf_counter() - started,
        "years": year_rows,
        "fingerprint": fingerprint(db),
    }


def checkout(ref: str) -> Path:
    """A worktree of ``ref`` in a temporary directory (removed at exit), its dbt project parsed."""
    path = Path(tempfile.mkdtemp(prefix="bench-before-")) / "repo"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), ref],
                   check=True, capture_output=True)  # fmt: skip
    atexit.register(subprocess.run, ["git", "-C", str(REPO), "worktree", "remove", "--force",
                                     str(path)], check=False, capture_output=True)  # fmt: skip
    parse_project(path)
    return path


def parse_project(repo: Path) -> None:
    """``dbt parse`` of ``repo``'s dbt project: dagster-dbt reads the manifest it writes."""
    project = repo / "dbt_project"
    subprocess.run([str(BIN / "dbt"), "parse", "--project-dir", str(project), "--profiles-dir",
                    str(project), "--quiet"], check=True)  # fmt: skip


def run_job_command(
    work: Path, repo: Path, employees: int, years: int, threads: int
) -> tuple[str, float, float]:
    """Runs :func:`job_command`; its merged output, wall seconds and CPU seconds (the CLI and
    every process it waited for, the dbt worker included: less moved by other work on a shared
    machine than the wall). A failed run ends the benchmark with its output's tail."""
    command, env = job_command(work, repo, employees, years, threads)
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"run failed ({repo}):\n{output[-3000:]}")
    return output, wall, usage.ru_utime + usage.ru_stime


def job_command(
    work: Path, repo: Path, employees: int, years: int, threads: int
) -> tuple[list[str], dict[str, str]]:
    """`dagster job execute` of ``repo``'s code, and its environment: a fresh DAGSTER_HOME and
    data_dir in ``work`` (the simulation's database is ``work/data/baseline/workforce.duckdb``)."""
    home = work / "home"
    home.mkdir(parents=True)
    shutil.copy(repo / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    config = work / "run.yaml"
    config.write_text(yaml.safe_dump({
        "start_year": 2025, "end_year": 2024 + years, "n_employees": employees, "threads": threads,
        "resources": {"simulation_store": {"config": {"data_dir": str(work / "data")}}},
    }))  # fmt: skip
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(repo)}
    command = [str(BIN / "dagster"), "job", "execute", "-m", "orch_assets.definitions",
               "-j", "workforce_simulation", "-c", str(config)]  # fmt: skip
    return command, env


def run_job(work: Path, repo: Path, employees: int, years: int, threads: int) -> dict[str, Any]:
    command, env = job_command(work, repo, employees, years, threads)
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True, cwd=repo)
    return {
        "wall": time.perf_counter() - started,
        "fingerprint": fingerprint(work / "data" / "baseline" / "workforce.duckdb"),
    }


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--job", action="store_true", help="also part 2 (dagster job execute)")
    parser.add_argument("--before-ref", default=BEFORE_REF, help="git revision for part 2's before")
    parser.add_argument("--configs", nargs="+", help="part 1 configurations to run (default all)")
    args = parser.parse_args()
    subprocess.run(
        [str(BIN / "dbt"), "parse", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
         "--quiet"], check=True,
    )  # fmt: skip
    limits = dict(DEFAULT_CLASS_LIMITS)
    history: dict[str, float] = {}

    def gated(order: str = "dbt") -> Callable[[], dict[str, Any]]:
        return lambda: {"gated": True, "class_limits": limits, "order": order,
                        "node_seconds": dict(history) if order == "critical_path" else {}}  # fmt: skip

    configs: dict[str, tuple[Callable[[], dict[str, Any]], bool]] = {
        "plain": (lambda: {"gated": False}, True),
        "gated": (gated(), True),
        "gated-nolimits": (lambda: {"gated": True, "class_limits": {}, "order": "dbt"}, True),
        "gated+cp": (gated("critical_path"), True),
        "gated-yearly": (gated(), False),
    }
    if args.configs:
        unknown = set(args.configs) - set(configs)
        if unknown:
            parser.error(f"--configs: unknown {sorted(unknown)}; allowed: {', '.join(configs)}")
        configs = {name: configs[name] for name in args.configs}
    print(f"Part 1: {args.years} years x {args.employees} employees, dbt threads {args.threads}, "
          f"{args.repeats} repeats (interleaved), {os.cpu_count()} CPUs shared with other work")  # fmt: skip
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    names = list(configs)
    for repeat in range(args.repeats):
        # The order rotates each repeat, so no configuration always runs first or after another.
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            scheduling, once = configs[name]
            with tempfile.TemporaryDirectory(prefix=f"bench-gate-{name}-") as work:
                result = run_worker(Path(work), args.employees, args.years, args.threads,
                                    scheduling(), once)  # fmt: skip
            results[name].append(result)
            if name == "gated":
                history.update(result["years"][-1]["seconds"])
            print(
                f"  repeat {repeat + 1} {name:14s} wall {result['wall']:7.2f} s",
                flush=True,
            )
    report(results, args.years)
    prints = {r["fingerprint"] for runs in results.values() for r in runs}
    if args.job:
        before_repo = checkout(args.before_ref)
        print(f"\nPart 2: dagster job execute, before ({args.before_ref}) vs after ({REPO})")
        jobs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for repeat in range(args.repeats):
            pair = (("before", before_repo), ("after", REPO))
            for name, repo in pair if repeat % 2 == 0 else pair[::-1]:
                with tempfile.TemporaryDirectory(prefix=f"bench-job-{name}-") as work:
                    result = run_job(Path(work), repo, args.employees, args.years, args.threads)
                jobs[name].append(result)
                print(
                    f"  repeat {repeat + 1} {name:7s} wall {result['wall']:7.2f} s",
                    flush=True,
                )
        before = median([r["wall"] for r in jobs["before"]])
        after = median([r["wall"] for r in jobs["after"]])
        print(f"\n| job | median wall s |\n|---|---|\n| before | {before:.1f} |\n"
              f"| after | {after:.1f} |\nspeed-up before/after: {before / after:.2f}x")  # fmt: skip
        prints |= {r["fingerprint"] for runs in jobs.values() for r in runs}
    print(f"outputs identical across all runs: {len(prints) == 1}")


if __name__ == "__main__":
    main()
