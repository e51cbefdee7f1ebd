"""Benchmark: the adaptive executor's own overhead in thread mode, side by side.

    .venv/bin/python benchmarks/executor_overhead.py --repeats 7 --baseline main

Variants, each in its own long-lived worker process on its own temporary SQLite instance, run
one after the other per repeat in an order that alternates between repeats, so machine noise
spreads over all of them:

* ``this tree``: the working tree the script is in;
* ``per-event writes``: the same tree with ``ORCH_GROUPED_EVENT_WRITES=0`` (Dagster's own event
  writes, one transaction per event, in the logging thread);
* ``baseline <ref>`` (with ``--baseline``): ``git archive <ref>`` of this repository, unpacked
  into a temporary directory and put first on the worker's ``PYTHONPATH``.

Every run goes through ``execute_job(reconstructable(...))``. Reported per scenario and variant,
medians over the repeats: run wall (RUN_START -> RUN_SUCCESS), start-up (RUN_START -> first
STEP_START), of which "before executor" (RUN_START -> the executor's first event: Dagster storing
RUN_START, which creates the run's SQLite event-log shard, before any executor runs), run wall
minus that, tail (last step event -> RUN_SUCCESS), the run process's CPU time, and each
variant's run wall over this tree's.

Scenarios (the issue's targets):
  a  16 independent steps sleeping 1 s, max_concurrent 16 (target: run wall <= 1.25 s)
  b  four 2 s "ingest" steps, then one 0.1 s step, max_concurrent 4 (target: <= 2.4 s)
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from dagster import (
    DagsterEventType,
    DagsterInstance,
    In,
    JobDefinition,
    Nothing,
    OpDefinition,
    execute_job,
    graph,
    instance_for_test,
    op,
    reconstructable,
)

SWITCH_ENV = "ORCH_GROUPED_EVENT_WRITES"
TREE = Path(__file__).resolve().parent.parent
SCENARIOS = {
    "a": ("16 x 1 s sleeps, cap 16", 16, 1.25),
    "b": ("4 x 2 s ingest -> 0.1 s, cap 4", 4, 2.4),
}


def _sleep_op(name: str, seconds: float) -> OpDefinition:
    @op(name=name, ins={"after": In(Nothing)})
    def _op() -> None:
        time.sleep(seconds)

    return _op


@graph
def sixteen_sleeps() -> None:
    for i in range(16):
        _sleep_op(f"sleep_{i}", 1.0)()


@graph
def four_ingests() -> None:
    _sleep_op("downstream", 0.1)([_sleep_op(f"ingest_{i}", 2.0)() for i in range(4)])


def sixteen_sleeps_job() -> JobDefinition:
    from orch_assets.executor import adaptive_executor

    return sixteen_sleeps.to_job(name="sixteen_sleeps", executor_def=adaptive_executor)


def four_ingests_job() -> JobDefinition:
    from orch_assets.executor import adaptive_executor

    return four_ingests.to_job(name="four_ingests", executor_def=adaptive_executor)


JOBS = {"a": sixteen_sleeps_job, "b": four_ingests_job}


def run_once(instance: DagsterInstance, key: str) -> dict[str, float]:
    config = {"execution": {"config": {"mode": "thread", "max_concurrent": SCENARIOS[key][1]}}}
    cpu = time.process_time()
    result = execute_job(reconstructable(JOBS[key]), instance=instance, run_config=config)
    cpu = time.process_time() - cpu
    if not result.success:
        raise RuntimeError(f"scenario {key} failed")
    stamps = [r.event_log_entry for r in instance.get_records_for_run(result.run_id).records]
    run_start = next(
        e.timestamp for e in stamps if e.dagster_event_type == DagsterEventType.RUN_START
    )
    run_end = next(
        e.timestamp for e in stamps if e.dagster_event_type == DagsterEventType.RUN_SUCCESS
    )
    first_step = min(
        e.timestamp for e in stamps if e.dagster_event_type == DagsterEventType.STEP_START
    )
    last_step = max(e.timestamp for e in stamps if e.step_key is not None)
    executor_start = next(
        e.timestamp for e in stamps if e.user_message.startswith("Adaptive executor: mode")
    )
    return {
        "run": run_end - run_start,
        "dagster": executor_start - run_start,
        "executor": run_end - executor_start,
        "startup": first_step - run_start,
        "tail": run_end - last_step,
        "cpu": cpu,
    }


def worker() -> None:
    """Runs scenarios named on stdin, one JSON measurement per line on the real stdout."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.dup2(devnull, sys.stderr.fileno())
    with instance_for_test() as instance:
        run_once(instance, "b")
        for line in sys.stdin:
            out.write(json.dumps(run_once(instance, line.strip())) + "\n")
            out.flush()


class Variant:
    def __init__(self, name: str, pythonpath: Path, env: dict[str, str]) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker"],
            cwd=pythonpath,
            env={**os.environ, **env, "PYTHONPATH": str(pythonpath)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, key: str) -> dict[str, float]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(key + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name}: worker exited ({self.process.wait()})")
        return json.loads(line)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


def export_tree(ref: str, into: Path) -> Path:
    archive = into / "baseline.tar"
    with archive.open("wb") as handle:
        subprocess.run(["git", "-C", str(TREE), "archive", ref], stdout=handle, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def report(keys: list[str], names: list[str], results: dict[tuple[str, str], list]) -> None:
    print(
        f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n\n"
        "| scenario | variant | run wall | start-up | before executor | run wall - before "
        "| tail | run CPU | wall / this tree | target |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    for key in keys:
        title, _, target = SCENARIOS[key]

        def median(name: str, field: str, key: str = key) -> float:
            return statistics.median(m[field] for m in results[(key, name)])

        for name in names:
            wall = median(name, "run")
            print(
                f"| ({key}) {title} | {name} | {wall:.2f} s | {median(name, 'startup'):.2f} s "
                f"| {median(name, 'dagster'):.2f} s | {median(name, 'executor'):.2f} s "
                f"| {median(name, 'tail'):.2f} s | {median(name, 'cpu'):.2f} s "
                f"| {wall / median('this tree', 'run'):.2f} "
                f"| <= {target} s: {'met' if wall <= target else 'NOT met'} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--baseline", help="a git ref of this repository to compare with")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    if args.repeats < 5:
        parser.error("--repeats must be at least 5 (medians of >= 5 runs)")
    with tempfile.TemporaryDirectory(prefix="overhead-bench-") as scratch:
        variants = [
            Variant("this tree", TREE, {SWITCH_ENV: "1"}),
            Variant("per-event writes", TREE, {SWITCH_ENV: "0"}),
        ]
        if args.baseline:
            tree = export_tree(args.baseline, Path(scratch))
            variants.append(Variant(f"baseline {args.baseline}", tree, {}))
        results: dict[tuple[str, str], list] = {}
        try:
            for repeat in range(args.repeats):
                order = variants if repeat % 2 == 0 else variants[::-1]
                for key in args.scenarios:
                    for variant in order:
                        m = variant.run(key)
                        results.setdefault((key, variant.name), []).append(m)
                        print(
                            f"repeat {repeat + 1} ({key}) {variant.name}: run {m['run']:.2f} s, "
                            f"start-up {m['startup']:.2f} s (before executor "
                            f"{m['dagster']:.2f} s), tail {m['tail']:.2f} s, "
                            f"CPU {m['cpu']:.2f} s",
                            flush=True,
                        )
        finally:
            for variant in variants:
                variant.close()
        report(args.scenarios, [v.name for v in variants], results)


if __name__ == "__main__":
    main()
