"""Benchmark: the adaptive executor (thread, process) against Dagster's multiprocess and in-process
executors, side by side in one invocation.

    .venv/bin/python benchmarks/executor.py --repeats 3
    .venv/bin/python benchmarks/executor.py --repeats 3 --scenarios a d

Scenarios (every step's output is ``Nothing``, so no IO-manager writes blur the comparison):
  a  16 independent steps sleeping 1 s, cap 16 (and the adaptive thread mode at cap 1 against
     in-process, to measure its overhead)
  b  four 2 s "ingest" steps, then one downstream step (0.5 s), cap 4
  c  a chain-and-diamond DAG of 0.5 s steps: a -> b -> (c1, c2, c3) -> d -> e, cap 3
  d  8 CPU-bound steps burning 1 s of CPU each (pure Python), cap 2

Each run is a separate ``dagster job execute`` process on one temporary instance. Reported per
scenario and executor: the median over the repeats of the run wall time (RUN_START -> RUN_SUCCESS
from the run's events) and of the CLI wall time (process start to exit), with ratios. Repeats go
round-robin over the executors so machine noise spreads over all of them. Results are also
written to benchmarks/results/executor-<time>.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from dagster import (
    DagsterEventType,
    DagsterInstance,
    Definitions,
    ExecutorDefinition,
    GraphDefinition,
    In,
    JobDefinition,
    Nothing,
    OpDefinition,
    graph,
    in_process_executor,
    multiprocess_executor,
    op,
)

from orch_assets.executor import adaptive_executor

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGSTER = Path(sys.executable).with_name("dagster")


def _sleep_op(name: str, seconds: float) -> OpDefinition:
    @op(name=name, ins={"after": In(Nothing)})
    def _op() -> None:
        time.sleep(seconds)

    return _op


def _cpu_op(name: str, cpu_seconds: float) -> OpDefinition:
    @op(name=name)
    def _op() -> None:
        start = time.thread_time()
        while time.thread_time() - start < cpu_seconds:
            sum(i * i for i in range(2000))

    return _op


@graph
def sixteen_sleeps() -> None:
    for i in range(16):
        _sleep_op(f"sleep_{i}", 1.0)()


@graph
def ingest_then_downstream() -> None:
    ingests = [_sleep_op(f"ingest_{i}", 2.0)() for i in range(4)]
    _sleep_op("downstream", 0.5)(ingests)


@graph
def chain_and_diamond() -> None:
    b = _sleep_op("b", 0.5)(_sleep_op("a", 0.5)())
    middle = [_sleep_op(f"c{i}", 0.5)(b) for i in range(1, 4)]
    _sleep_op("e", 0.5)(_sleep_op("d", 0.5)(middle))


@graph
def cpu_bound() -> None:
    for i in range(8):
        _cpu_op(f"burn_{i}", 1.0)()


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    graph: GraphDefinition
    cap: int


SCENARIOS = [
    Scenario("a", "16 x 1 s sleeps", sixteen_sleeps, 16),
    Scenario("b", "4 x 2 s ingest -> 1", ingest_then_downstream, 4),
    Scenario("c", "chain + diamond, 0.5 s steps", chain_and_diamond, 3),
    Scenario("d", "8 x 1 s CPU-bound", cpu_bound, 2),
]

EXECUTORS: dict[str, tuple[ExecutorDefinition, Callable[[int], dict[str, object]]]] = {
    "in_process": (in_process_executor, lambda cap: {}),
    "multiprocess": (multiprocess_executor, lambda cap: {"max_concurrent": cap}),
    "adaptive thread": (adaptive_executor, lambda cap: {"mode": "thread", "max_concurrent": cap}),
    "adaptive process": (adaptive_executor, lambda cap: {"mode": "process", "max_concurrent": cap}),
    "adaptive thread cap 1": (
        adaptive_executor,
        lambda cap: {"mode": "thread", "max_concurrent": 1},
    ),
}


def job_name(scenario: Scenario, executor: str) -> str:
    return f"{scenario.graph.name}__{executor.replace(' ', '_')}"


BENCH_JOBS: list[JobDefinition] = [
    scenario.graph.to_job(name=job_name(scenario, executor), executor_def=executor_def)
    for scenario in SCENARIOS
    for executor, (executor_def, _) in EXECUTORS.items()
]
defs = Definitions(jobs=BENCH_JOBS)


@dataclass
class Measurement:
    run_s: float
    cli_s: float


def executors_for(scenario: Scenario) -> list[str]:
    names = ["in_process", "multiprocess", "adaptive thread", "adaptive process"]
    return [*names, "adaptive thread cap 1"] if scenario.key == "a" else names


def run_once(home: Path, scenario: Scenario, executor: str) -> Measurement:
    config_path = home / "run_config.yaml"
    config_path.write_text(
        yaml.safe_dump({"execution": {"config": EXECUTORS[executor][1](scenario.cap)}})
    )
    started = time.perf_counter()
    completed = subprocess.run(
        [str(DAGSTER), "job", "execute", "-f", __file__, "-d", str(REPO_ROOT),
         "-a", "defs", "-j", job_name(scenario, executor), "-c", str(config_path)],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
    )  # fmt: skip
    cli_s = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{job_name(scenario, executor)} failed:\n{completed.stderr[-3000:]}")
    with DagsterInstance.from_config(str(home)) as instance:
        latest = instance.get_runs(limit=1)[0]
        stamps = {
            record.event_log_entry.dagster_event_type: record.event_log_entry.timestamp
            for record in instance.get_records_for_run(latest.run_id).records
            if record.event_log_entry.dagster_event_type
            in (DagsterEventType.RUN_START, DagsterEventType.RUN_SUCCESS)
        }
    return Measurement(
        stamps[DagsterEventType.RUN_SUCCESS] - stamps[DagsterEventType.RUN_START], cli_s
    )


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(
    results: dict[str, dict[str, list[Measurement]]], scenarios: list[Scenario]
) -> list[str]:
    lines = [
        "| scenario | executor | run wall (median) | CLI wall (median) "
        "| vs multiprocess | vs in_process |",
        "|---|---|---|---|---|---|",
    ]
    for scenario in scenarios:
        by_executor = results[scenario.key]
        run_median = {name: median([m.run_s for m in runs]) for name, runs in by_executor.items()}
        for name, runs in by_executor.items():
            lines.append(
                f"| ({scenario.key}) {scenario.title}, "
                f"cap {scenario.cap if 'cap 1' not in name else 1} "
                f"| {name} | {run_median[name]:.2f} s | {median([m.cli_s for m in runs]):.2f} s "
                f"| {run_median['multiprocess'] / run_median[name]:.2f}x faster "
                f"| {run_median['in_process'] / run_median[name]:.2f}x faster |"
            )
    return lines


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def targets(results: dict[str, dict[str, list[Measurement]]]) -> list[str]:
    if "a" not in results:
        return []
    run_median = {name: median([m.run_s for m in runs]) for name, runs in results["a"].items()}
    thread, cap_one = run_median["adaptive thread"], run_median["adaptive thread cap 1"]
    speedup = run_median["multiprocess"] / thread
    overhead = cap_one / run_median["in_process"] - 1
    return [
        f"target (a) run wall <= 1.25 s: {thread:.2f} s -> {_verdict(thread <= 1.25)}",
        f"target (a) >= 5x faster than multiprocess: {speedup:.1f}x -> {_verdict(speedup >= 5)}",
        f"target (a) cap 1 overhead <= 5% over in_process: {100 * overhead:+.1f}% -> "
        f"{_verdict(overhead <= 0.05)}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scenarios", nargs="*", default=[s.key for s in SCENARIOS])
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error("--repeats must be at least 3 (medians of >= 3 runs)")
    scenarios = [s for s in SCENARIOS if s.key in args.scenarios]
    results: dict[str, dict[str, list[Measurement]]] = {s.key: {} for s in scenarios}
    with tempfile.TemporaryDirectory(prefix="orch-executor-bench-") as home_dir:
        home = Path(home_dir)
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        for repeat in range(args.repeats):
            for scenario in scenarios:
                for executor in executors_for(scenario):
                    measurement = run_once(home, scenario, executor)
                    results[scenario.key].setdefault(executor, []).append(measurement)
                    print(
                        f"repeat {repeat + 1} ({scenario.key}) {executor}: "
                        f"run {measurement.run_s:.2f} s, "
                        f"CLI {measurement.cli_s:.2f} s",
                        flush=True,
                    )
    lines = [*report(results, scenarios), "", *targets(results)]
    print("\n" + "\n".join(lines))
    out_dir = REPO_ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out_file = out_dir / f"executor-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out_file.write_text(
        json.dumps(
            {k: {e: [m.__dict__ for m in ms] for e, ms in v.items()} for k, v in results.items()},
            indent=2,
        )
    )
    print(f"\nraw measurements: {out_file.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
