"""Benchmark: several scenarios in one run (adaptive executor, scenarios in parallel) against the
same scenarios one after another.

    .venv/bin/python benchmarks/scenarios.py           # every scenario file, 5 years, 100k, 3 repeats
    .venv/bin/python benchmarks/scenarios.py --employees 10000 --repeats 1 --end-year 2026

Three ways to simulate every scenario of orch_assets/scenarios/ (4 in the repository), each a
real `dagster job execute` on a temporary instance, every repeat into fresh databases:
  parallel    the all_scenarios job, one run, adaptive executor mode thread (scenarios at once)
  sequential  the all_scenarios job, one run, adaptive executor mode sequential (one at a time)
  separate    one scenario_simulation run per scenario (partition), one after another

Reported: medians over the repeats of the CLI wall time (process start to exit; for `separate`
the sum over its runs) and of the run time (run start to end from the run records), and the
speedups of `parallel` over the other two. The speedup over `separate` is the issue's number
(one run vs the scenarios one after another); over `sequential` it isolates the executor's
parallelism from the per-run start-up. Repeats go round-robin over the modes. Results are also
written to benchmarks/results/scenarios-<time>.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml
from dagster import DagsterInstance, RunsFilter

from orch_assets.partitions import SCENARIOS

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGSTER = Path(sys.executable).with_name("dagster")
MODES = ("parallel", "sequential", "separate")


def _execute(job: str, run_config: dict, env: dict[str, str], tags: dict | None = None) -> float:
    """One `dagster job execute`; returns its wall seconds, raises if the run failed."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(run_config, handle)
    command = [str(DAGSTER), "job", "execute", "-m", "orch_assets.definitions", "-j", job,
               "-c", handle.name]  # fmt: skip
    if tags:
        command += ["--tags", json.dumps(tags)]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    os.unlink(handle.name)
    if done.returncode != 0:
        raise RuntimeError(f"{job} failed:\n{done.stderr[-3000:]}")
    return seconds


def _run_seconds(home: Path, since: float) -> float:
    """Σ (end - start) of the runs recorded in ``home`` after ``since``."""
    with DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records(RunsFilter(created_after=_utc(since)))
        return sum((r.end_time or 0) - (r.start_time or 0) for r in records)


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


def measure(mode: str, scenarios: list[str], shape: dict, home: Path, data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(DAGSTER_HOME=str(home), ORCH_DATA_DIR=str(data_dir))
    since = time.time()
    if mode == "separate":
        wall = sum(
            _execute(
                "scenario_simulation",
                {"ops": {"scenario_models": {"config": shape}}},
                env,
                tags={"dagster/partition": name},
            )
            for name in scenarios
        )
    else:
        executor_mode = "thread" if mode == "parallel" else "sequential"
        config = {**shape, "execution": {"config": {"mode": executor_mode}}}
        wall = _execute("all_scenarios", config, env)
    return {
        "mode": mode,
        "cli_seconds": round(wall, 2),
        "run_seconds": round(_run_seconds(home, since), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--start-year", type=int, default=2025)
    parser.add_argument("--end-year", type=int, default=2029)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    args = parser.parse_args()
    shape = {
        "n_employees": args.employees,
        "start_year": args.start_year,
        "end_year": args.end_year,
    }
    scenarios = [s.name for s in SCENARIOS]
    print(f"{len(scenarios)} scenarios ({', '.join(scenarios)}) x "
          f"{args.end_year - args.start_year + 1} years, {args.employees} employees, "
          f"{args.repeats} repeats, {os.cpu_count()} CPUs")  # fmt: skip

    results: dict[str, list[dict]] = {mode: [] for mode in args.modes}
    with tempfile.TemporaryDirectory(prefix="orch-bench-scenarios-") as tmp:
        home = Path(tmp) / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(
            (REPO_ROOT / "dagster_home" / "dagster.yaml").read_text()
        )
        for repeat in range(args.repeats):
            for mode in args.modes:
                data_dir = Path(tmp) / f"data-{mode}-{repeat}"
                result = measure(mode, scenarios, shape, home, data_dir)
                results[mode].append(result)
                print(f"  repeat {repeat + 1} {mode:10s} cli {result['cli_seconds']:8.2f} s  "
                      f"run {result['run_seconds']:8.2f} s", flush=True)  # fmt: skip

    medians = {
        mode: {
            key: statistics.median(r[key] for r in rows) for key in ("cli_seconds", "run_seconds")
        }
        for mode, rows in results.items()
    }
    print("\nmedians:")
    for mode, values in medians.items():
        print(
            f"  {mode:10s} cli {values['cli_seconds']:8.2f} s  run {values['run_seconds']:8.2f} s"
        )
    if "parallel" in medians:
        for other in ("separate", "sequential"):
            if other in medians:
                for key in ("cli_seconds", "run_seconds"):
                    ratio = medians[other][key] / medians["parallel"][key]
                    print(
                        f"  speedup parallel vs {other:10s} ({key.removesuffix('_seconds')}): {ratio:.2f}x"
                    )
    out = REPO_ROOT / "benchmarks" / "results" / f"scenarios-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps({"args": vars(args), "results": results, "medians": medians}, indent=2)
    )
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
