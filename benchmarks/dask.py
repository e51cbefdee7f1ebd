"""Benchmark: the adaptive executor on a 2-worker local Dask cluster against thread mode.

    .venv/bin/python benchmarks/dask.py --repeats 3
    .venv/bin/python benchmarks/dask.py --repeats 3 --employees 2000 --end-year 2026   # smaller

Two workloads, each run in both modes, repeats round-robin so machine noise spreads over both:
  sleep      16 independent steps sleeping 1 s, max_concurrent 16 (each worker has 8 threads)
  scenarios  the all_scenarios job (4 scenarios x 3 years x 20k employees by default)

The cluster is a real `dask scheduler` and two `dask worker` processes on 127.0.0.1, started
once (their first run pays the start of each worker's step zygote; it is run once before
measuring). Runs go through execute_job on one temporary instance. Reported, medians over the
repeats: run wall (RUN_START -> RUN_SUCCESS), overhead (wall minus the ideal 1 s for `sleep`),
per-step latency from run start to STEP_START, a step's start-up (launch: from its submission to
the cluster, STEP_WORKER_STARTING, to its STEP_START), the step's own overhead (STEP_START ->
STEP_SUCCESS minus its 1 s sleep) and, for `scenarios`, the median scenario step time. Then, on
paper, the wall for N machines.
On this 2-core machine no speed-up is expected: both modes share the same two cores.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This file is named like the `dask` package: run as a script, its directory would shadow it.
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(REPO_ROOT))

from dagster import DagsterEventType, DagsterInstance, execute_job, reconstructable  # noqa: E402

from benchmarks.dask_jobs import N_STEPS, SLEEP_S, all_scenarios_job, sleep_job  # noqa: E402


def _start_cluster(logs: Path) -> tuple[str, list[subprocess.Popen]]:
    dask = str(Path(sys.executable).with_name("dask"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}  # `dask worker` defaults: nanny, daemon
    commands = [[dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]]
    commands += [
        [dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "8", "--no-dashboard"]
    ] * 2
    processes = []
    for index, command in enumerate(commands):
        log = (logs / f"dask-{index}.log").open("w")
        processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
        time.sleep(1.0 if index == 0 else 0.0)
    from distributed import Client

    with Client(address, timeout=60, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=120)
    return address, processes


def _timings(instance: DagsterInstance, run_id: str) -> dict[str, float]:
    records = instance.get_records_for_run(run_id).records
    run_start = run_end = 0.0
    starts: dict[str, float] = {}
    submitted: dict[str, float] = {}
    bodies: list[float] = []
    for record in records:
        entry = record.event_log_entry
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.RUN_START:
            run_start = entry.timestamp
        elif event.event_type == DagsterEventType.RUN_SUCCESS:
            run_end = entry.timestamp
        elif event.event_type == DagsterEventType.STEP_WORKER_STARTING and entry.step_key:
            submitted.setdefault(entry.step_key, entry.timestamp)
        elif event.event_type == DagsterEventType.STEP_START and entry.step_key:
            starts[entry.step_key] = entry.timestamp
        elif event.event_type == DagsterEventType.STEP_SUCCESS and entry.step_key:
            bodies.append(entry.timestamp - starts[entry.step_key])
    if not run_end:
        raise RuntimeError(f"run {run_id} did not succeed")
    return {
        "wall": run_end - run_start,
        "start_latency": statistics.median(s - run_start for s in starts.values()),
        "step": statistics.median(bodies),
        # Submission to the cluster -> the step's code starts (thread mode: from run start).
        "launch": statistics.median(starts[k] - submitted.get(k, run_start) for k in starts),
    }


def _run(instance: DagsterInstance, workload: str, mode: str, address: str, args: argparse.Namespace,
         data_dir: Path) -> dict[str, float]:  # fmt: skip
    execution: dict[str, object] = {"mode": mode, "max_concurrent": N_STEPS}
    if mode == "dask":
        execution["dask"] = {"address": address}
    if workload == "sleep":
        target, run_config = sleep_job, {"execution": {"config": execution}}
    else:
        target = all_scenarios_job
        run_config = {
            "n_employees": args.employees,
            "start_year": args.start_year,
            "end_year": args.end_year,
            "execution": {"config": {k: v for k, v in execution.items() if k != "max_concurrent"}},
            "resources": {"simulation_store": {"config": {"data_dir": str(data_dir)}}},
        }
    result = execute_job(reconstructable(target), instance=instance, run_config=run_config)
    return _timings(instance, result.run_id)


def _median(samples: list[dict[str, float]], key: str) -> float:
    return statistics.median(sample[key] for sample in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--employees", type=int, default=20_000)
    parser.add_argument("--start-year", type=int, default=2025)
    parser.add_argument("--end-year", type=int, default=2027)
    parser.add_argument("--workloads", nargs="+", choices=("sleep", "scenarios"),
                        default=["sleep", "scenarios"])  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orch-dask-bench-") as tmp:
        root = Path(tmp)
        address, processes = _start_cluster(root)
        try:
            (root / "home").mkdir()
            with DagsterInstance.local_temp(str(root / "home")) as instance:
                _run(instance, "sleep", "dask", address, args, root / "warmup")
                results: dict[tuple[str, str], list[dict[str, float]]] = {}
                for workload in args.workloads:
                    for repeat in range(args.repeats):
                        for mode in ("thread", "dask"):
                            data_dir = root / f"data-{workload}-{mode}-{repeat}"
                            sample = _run(instance, workload, mode, address, args, data_dir)
                            results.setdefault((workload, mode), []).append(sample)
                            print(f"{workload:9} {mode:6} #{repeat}: {sample}", flush=True)
        finally:
            for process in processes:
                process.terminate()
    _report(results, args)


def _report(
    results: dict[tuple[str, str], list[dict[str, float]]], args: argparse.Namespace
) -> None:
    print(f"\nmedians of {args.repeats} runs; 2 workers x 8 threads on this machine vs threads")
    print("| workload | mode | run wall s | overhead s | start latency s | launch s | step s |")
    print("|---|---|---|---|---|---|---|")
    for (workload, mode), samples in results.items():
        wall, step = _median(samples, "wall"), _median(samples, "step")
        overhead = f"{wall - SLEEP_S:.2f}" if workload == "sleep" else "-"
        print(f"| {workload} | {mode} | {wall:.2f} | {overhead} | "
              f"{_median(samples, 'start_latency'):.2f} | {_median(samples, 'launch'):.2f} | "
              f"{step:.2f} |")  # fmt: skip
    if ("sleep", "dask") in results and ("sleep", "thread") in results:
        ratio = _median(results[("sleep", "dask")], "wall") / _median(
            results[("sleep", "thread")], "wall"
        )
        print(f"sleep: dask / thread wall = {ratio:.2f}")
    if ("scenarios", "dask") not in results:
        return
    dask_wall = _median(results[("scenarios", "dask")], "wall")
    thread_wall = _median(results[("scenarios", "thread")], "wall")
    overhead = max(0.0, dask_wall - thread_wall)
    # One 2-core machine like this one runs 4 scenarios in `thread_wall`. With k scenarios per
    # machine, assume k/4 of that, but never less than one scenario alone, taken as the 2-core
    # share of the 4-scenario run (thread_wall x 2 / 4): dbt's start-up does not use both cores.
    alone = thread_wall * 2 / 4
    print(f"scenarios: dask / thread wall = {dask_wall / thread_wall:.2f}")
    print(
        f"\nProjection on paper (machines like this one, each a 2-core Dask worker): "
        f"4 scenarios per machine {thread_wall:.1f} s, one alone >= {alone:.1f} s, "
        f"dask overhead {overhead:.1f} s (dask minus thread wall)"
    )
    print("| scenarios | machines | projected wall s |")
    print("|---|---|---|")
    for scenarios in (4, 16, 64):
        for machines in (1, 2, 4, 8, 16):
            per_machine = -(-scenarios // machines)
            wall = overhead + max(alone, thread_wall * per_machine / 4)
            print(f"| {scenarios} | {machines} | {wall:.1f} |")


if __name__ == "__main__":
    main()
