"""Benchmark: the workforce_simulation job vs a plain dbt-CLI-per-year loop, side by side.

    .venv/bin/python benchmarks/simulation.py --employees 100000 --years 5 --repeats 3

After one small uncounted warm-up run, each repeat runs, one after the other on fresh DuckDB
files and the same inputs:
  dagster   `dagster job execute -m orch_assets.definitions -j workforce_simulation` (wall of the
            CLI process, and RUN_START -> RUN_SUCCESS from the run's events)
  ungated   the same with ``ORCH_MODEL_GATE=off`` (plain dbt --threads inside the years)
  in-step   the simulation's years as its step runs them, without the CLI and the job's other
            steps (``GatedDbtCliResource``: one dbt worker, one dbt start-up and parse, a
            ``dbt build`` per year; simulation_runs.run_years, a one-op job in this process)
  dbt-cli   one `dbt build --vars {simulation_year: Y}` process per year, as a shell loop would
Reported: medians, ratios against dbt-cli, the sum of dbt model times inside each, and whether
the outputs are identical (fingerprint of fct_workforce_snapshot and fct_yearly_events).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg
from simulation_runs import (
    BIN,
    DBT_DIR,
    REPO,
    YearsOptions,
    fingerprint,
    job_command,
    run_years,
    warm_up,
)


def model_seconds_from_run_results(target: Path) -> float:
    results = json.loads((target / "run_results.json").read_text())["results"]
    return sum(r["execution_time"] for r in results if r["unique_id"].startswith("model."))


def run_dagster(
    work: Path, employees: int, years: int, threads: int, env: dict[str, str] | None = None
) -> dict[str, Any]:
    command, environment = job_command(work, REPO, employees, years, threads, env)
    started = time.perf_counter()
    subprocess.run(command, check=True, env=environment, capture_output=True, cwd=REPO)
    wall = time.perf_counter() - started
    with dg.DagsterInstance.from_config(environment["DAGSTER_HOME"]) as instance:
        run = instance.get_runs(limit=1)[0]
        records = instance.get_records_for_run(run.run_id).records
        stamps = {r.event_log_entry.dagster_event.event_type_value: r.event_log_entry.timestamp
                  for r in records if r.event_log_entry.dagster_event}  # fmt: skip
        materializations = [
            r.event_log_entry.dagster_event.event_specific_data.materialization.metadata
            for r in records
            if r.event_log_entry.dagster_event
            and r.event_log_entry.dagster_event.event_type_value == "ASSET_MATERIALIZATION"
        ]
        model_seconds = sum(
            float(m["Execution Duration"].value)  # type: ignore[arg-type]
            for m in materializations
            if m["unique_id"].value.startswith("model.")
        )
    return {
        "wall": wall,
        "run": stamps["PIPELINE_SUCCESS"] - stamps["PIPELINE_START"],
        "models": model_seconds,
        "fingerprint": fingerprint(work / "data" / "baseline" / "workforce.duckdb"),
    }


def run_ungated(work: Path, employees: int, years: int, threads: int) -> dict[str, Any]:
    return run_dagster(work, employees, years, threads, {"ORCH_MODEL_GATE": "off"})


def run_in_step(work: Path, employees: int, years: int, threads: int) -> dict[str, Any]:
    result = run_years(work, YearsOptions(employees, years, threads, publish=True))
    return {**result, "models": sum(y["models"] for y in result["years"])}


def run_dbt_cli(work: Path, employees: int, years: int, threads: int) -> dict[str, Any]:
    data = work / "data"
    data.mkdir()
    started = time.perf_counter()
    model_seconds = 0.0
    for year in range(2025, 2025 + years):
        dbt_vars = {"simulation_year": year, "start_year": 2025, "n_employees": employees,
                    "random_seed": 42}  # fmt: skip
        subprocess.run(
            [str(BIN / "dbt"), "build", "--project-dir", str(DBT_DIR), "--profiles-dir",
             str(DBT_DIR), "--target-path", str(data / "dbt_target"), "--threads", str(threads),
             "--vars", json.dumps(dbt_vars), "--quiet"],
            check=True, cwd=data, capture_output=True,
        )  # fmt: skip
        model_seconds += model_seconds_from_run_results(data / "dbt_target")
    return {"wall": time.perf_counter() - started, "models": model_seconds,
            "fingerprint": fingerprint(data / "workforce.duckdb")}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    subprocess.run(
        [str(BIN / "dbt"), "parse", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
         "--quiet"], check=True,
    )  # fmt: skip
    runners = {
        "dagster": run_dagster,
        "ungated": run_ungated,
        "in-step": run_in_step,
        "dbt-cli": run_dbt_cli,
    }
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in runners}
    warm_up()
    print(f"{args.years} years x {args.employees} employees, dbt threads {args.threads}, "
          f"{args.repeats} repeats (interleaved), load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    for repeat in range(args.repeats):
        for name, runner in runners.items():
            with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as work:
                result = runner(Path(work), args.employees, args.years, args.threads)
            results[name].append(result)
            extra = f", run {result['run']:.2f} s" if "run" in result else ""
            print(f"  repeat {repeat + 1} {name:8s} wall {result['wall']:6.2f} s{extra}, "
                  f"dbt models {result['models']:.2f} s", flush=True)  # fmt: skip
    baseline = statistics.median(r["wall"] for r in results["dbt-cli"])
    print(f"\n{'':10s}{'median wall':>12s}{'vs dbt-cli':>12s}{'Σ model s':>11s}")
    for name, rows in results.items():
        wall = statistics.median(r["wall"] for r in rows)
        models = statistics.median(r["models"] for r in rows)
        print(f"{name:10s}{wall:11.2f}s{baseline / wall:11.2f}x{models:10.2f}s")
    for name in ("dagster", "ungated"):
        runs = statistics.median(r["run"] for r in results[name])
        print(f"{name} run (RUN_START -> RUN_SUCCESS) median: {runs:.2f} s")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    prints = {r["fingerprint"] for rows in results.values() for r in rows}
    print(
        f"outputs identical across all {sum(map(len, results.values()))} runs: {len(prints) == 1}"
    )


if __name__ == "__main__":
    main()
