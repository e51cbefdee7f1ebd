"""Benchmark: thread mode with grouped event writes against one write per event, side by side.

    .venv/bin/python benchmarks/event_writes.py --repeats 5

Both variants run the same jobs through ``execute_job(reconstructable(...))`` in this process on
one temporary SQLite instance; ``ORCH_GROUPED_EVENT_WRITES`` (read when a run starts) switches
grouped writes off for the "per event" variant. Repeats alternate the variants so machine noise
spreads over both. Reported per scenario and variant, medians over the repeats: run wall
(RUN_START -> RUN_SUCCESS), start-up (RUN_START -> first STEP_START) and tail (last step event
-> RUN_SUCCESS), and the ratio per event / grouped.

Scenarios (the issue's targets):
  a  16 independent steps sleeping 1 s, max_concurrent 16 (target: run wall <= 1.25 s)
  b  four 2 s "ingest" steps, then one 0.1 s step, max_concurrent 4 (target: <= 2.4 s)
"""

import argparse
import os
import statistics
import time
from dataclasses import dataclass

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

from orch_assets.executor import adaptive_executor
from orch_assets.executor.event_writes import SWITCH_ENV

VARIANTS = {"per event": "0", "grouped": "1"}


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
    return sixteen_sleeps.to_job(name="sixteen_sleeps", executor_def=adaptive_executor)


def four_ingests_job() -> JobDefinition:
    return four_ingests.to_job(name="four_ingests", executor_def=adaptive_executor)


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    job: object
    cap: int
    target_s: float


SCENARIOS = [
    Scenario("a", "16 x 1 s sleeps, cap 16", sixteen_sleeps_job, 16, 1.25),
    Scenario("b", "4 x 2 s ingest -> 0.1 s, cap 4", four_ingests_job, 4, 2.4),
]


@dataclass(frozen=True)
class Measurement:
    run_s: float
    startup_s: float
    tail_s: float


def run_once(instance: DagsterInstance, scenario: Scenario, switch: str) -> Measurement:
    os.environ[SWITCH_ENV] = switch
    config = {"execution": {"config": {"mode": "thread", "max_concurrent": scenario.cap}}}
    result = execute_job(reconstructable(scenario.job), instance=instance, run_config=config)  # type: ignore[arg-type]
    if not result.success:
        raise RuntimeError(f"scenario {scenario.key} failed")
    records = instance.get_records_for_run(result.run_id).records
    stamps = [(r.event_log_entry.dagster_event_type, r.event_log_entry) for r in records]
    run_start = next(e.timestamp for t, e in stamps if t == DagsterEventType.RUN_START)
    run_end = next(e.timestamp for t, e in stamps if t == DagsterEventType.RUN_SUCCESS)
    first_step = min(e.timestamp for t, e in stamps if t == DagsterEventType.STEP_START)
    last_step = max(e.timestamp for _, e in stamps if e.step_key is not None)
    return Measurement(run_end - run_start, first_step - run_start, run_end - last_step)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scenarios", nargs="*", default=[s.key for s in SCENARIOS])
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("--repeats must be at least 5 (medians of >= 5 runs)")
    scenarios = [s for s in SCENARIOS if s.key in args.scenarios]
    results: dict[tuple[str, str], list[Measurement]] = {}
    with instance_for_test() as instance:
        for repeat in range(args.repeats):
            for scenario in scenarios:
                order = list(VARIANTS.items())
                for name, switch in order if repeat % 2 == 0 else reversed(order):
                    m = run_once(instance, scenario, switch)
                    results.setdefault((scenario.key, name), []).append(m)
                    print(
                        f"repeat {repeat + 1} ({scenario.key}) {name}: run {m.run_s:.2f} s, "
                        f"start-up {m.startup_s:.2f} s, tail {m.tail_s:.2f} s",
                        flush=True,
                    )
    print(
        f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n\n"
        "| scenario | variant | run wall | start-up | tail | per event / grouped | target |\n"
        "|---|---|---|---|---|---|---|"
    )
    for scenario in scenarios:
        walls = {
            name: statistics.median(m.run_s for m in results[(scenario.key, name)])
            for name in VARIANTS
        }
        for name in VARIANTS:
            runs = results[(scenario.key, name)]
            wall = walls[name]
            print(
                f"| ({scenario.key}) {scenario.title} | {name} | {wall:.2f} s "
                f"| {statistics.median(m.startup_s for m in runs):.2f} s "
                f"| {statistics.median(m.tail_s for m in runs):.2f} s "
                f"| {walls['per event'] / wall:.2f}x "
                f"| <= {scenario.target_s} s: {'met' if wall <= scenario.target_s else 'NOT met'} |"
            )


if __name__ == "__main__":
    main()
