"""Benchmark: the code location's start-up, this checkout against a baseline revision.

    .venv/bin/python benchmarks/import_time.py --baseline main --repeats 5 --job

Each repeat measures this checkout and, with --baseline, a git worktree of that revision
(model_gate.checkout, removed at exit), alternating which goes first, each in fresh interpreters:

  import      wall of `python -c "import orch_assets.definitions"`: the interpreter's start, the
              import and its exit, as every CLI command, code server and step process pays it
  in-process  the import alone, timed inside that interpreter
  exit        from the end of the import to the end of the process

With --job, also `dagster job execute -j workforce_simulation` of a small run (--employees,
--years; a fresh DAGSTER_HOME and data_dir each), its output lines timed as they arrive: seconds
from the CLI's start to RUN_START and to the first STEP_START, from RUN_SUCCESS to the CLI's end,
and the whole wall. Reported: medians, ratios this/baseline, the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from model_gate import checkout, job_command, parse_project

REPO = Path(__file__).resolve().parents[1]
# Prints the import's own seconds and the monotonic clock (system-wide on Linux) at its end.
IMPORT_PROBE = (
    "import time; t = time.monotonic(); import orch_assets.definitions; "
    "print(time.monotonic() - t, time.monotonic())"
)
EVENTS = ("RUN_START", "STEP_START", "RUN_SUCCESS")


def measure_import(repo: Path) -> dict[str, float]:
    """One fresh interpreter importing ``repo``'s code location."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], env=env, cwd=repo, check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    ended = time.monotonic()
    seconds, import_end = (float(x) for x in out.split())
    return {"import": ended - started, "in-process": seconds, "exit": ended - import_end}


def measure_job(repo: Path, work: Path, employees: int, years: int) -> dict[str, float]:
    """One `dagster job execute` of ``repo``'s code: when its events appear, and its wall."""
    command, env = job_command(work, repo, employees, years, threads=2)
    started = time.monotonic()
    proc = subprocess.Popen(command, env={**env, "PYTHONUNBUFFERED": "1"}, cwd=repo, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    assert proc.stdout is not None
    seen: dict[str, float] = {}
    tail: list[str] = []
    for line in proc.stdout:
        tail = [*tail[-20:], line]
        for event in EVENTS:
            if event not in seen and f" - {event} - " in line:
                seen[event] = time.monotonic() - started
    ended = time.monotonic() - started
    if proc.wait() != 0 or len(seen) != len(EVENTS):
        raise SystemExit(f"run failed ({repo}):\n{''.join(tail)}")
    return {
        "CLI start to RUN_START": seen["RUN_START"],
        "CLI start to STEP_START": seen["STEP_START"],
        "RUN_SUCCESS to CLI end": ended - seen["RUN_SUCCESS"],
        "job wall": ended,
    }


def report(results: dict[str, list[dict[str, float]]]) -> None:
    names = list(results)
    keys = list(results[names[0]][0])
    print(f"| measure (s, median) | {' | '.join(names)} |"
          + (" this / baseline |" if len(names) == 2 else ""))  # fmt: skip
    print("|---" * (len(names) + 1 + (len(names) == 2)) + "|")
    for key in keys:
        values = [statistics.median(r[key] for r in results[n]) for n in names]
        ratio = f" {values[0] / values[1]:.3f} |" if len(values) == 2 else ""
        print(f"| {key} | {' | '.join(f'{v:.3f}' for v in values)} |{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="git revision to compare against (a worktree of it)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--job", action="store_true", help="also time `dagster job execute`")
    parser.add_argument("--employees", type=int, default=1000)
    parser.add_argument("--years", type=int, default=1)
    args = parser.parse_args()
    parse_project(REPO)
    repos = {"this": REPO}
    if args.baseline:
        repos["baseline"] = checkout(args.baseline)
    for repo in repos.values():
        measure_import(repo)  # compiles the tree's bytecode; not counted
    load_before = os.getloadavg()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in repos}
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        for repeat in range(args.repeats):
            order = list(repos) if repeat % 2 == 0 else list(reversed(repos))
            for name in order:
                row = measure_import(repos[name])
                if args.job:
                    work = Path(tmp) / f"{name}-{repeat}"
                    row |= measure_job(repos[name], work, args.employees, args.years)
                results[name].append(row)
                print(f"repeat {repeat + 1} {name}: "
                      + ", ".join(f"{k} {v:.2f}" for k, v in row.items()), flush=True)  # fmt: skip
    load_after = os.getloadavg()
    print(f"\nmedians of {args.repeats} fresh interpreters each, interleaved"
          + (f"; baseline {args.baseline}" if args.baseline else "")
          + (f"; job: {args.employees} employees x {args.years} years" if args.job else "")
          + f"; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after\n")  # fmt: skip
    report(results)


if __name__ == "__main__":
    main()
