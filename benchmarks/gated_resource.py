"""Benchmark: GatedDbtCliResource against dagster-dbt's DbtCliResource on the same dbt builds.

    .venv/bin/python benchmarks/gated_resource.py --repeats 3

Three builds, each materialized in-process (one Dagster step) on a fresh DuckDB file per run,
the resources interleaved (the order rotating per repeat):

  example  examples/shop, one command in the stock dagster-dbt idiom (``@dbt_assets`` whose body
           is ``yield from dbt.cli(["build"], context=context).stream()``): 30 nodes (3 seeds,
           6 models, 21 tests)
  year     dbt_project/ (a copy, so nothing is written into the repository), the same idiom:
           one simulated year, ``dbt build --exclude-resource-type unit_test --vars
           {simulation_year: 2025}``
  years    the same copy, an op running the simulation's --years (default 5) as consecutive
           commands in ONE step, each ``dbt build ... --vars {simulation_year: Y, ...}`` with
           the arguments the simulation uses (orch_assets.simulation.years.YearPlan), streamed
           with ``dbt.cli(args, manifest=...)`` (gated: ``run_context=context``)

Resources: ``stock`` (``DbtCliResource``: a dbt process per command, each importing dbt and
parsing the project; a change of ``--vars`` forces a full parse), ``gated``
(``GatedDbtCliResource``: the step's commands in one dbt worker; for ``years`` with
``reparse_on_vars: false`` as the simulation sets it, so the years share one parse) and, for
``years`` only, ``gated-reparse`` (the default ``reparse_on_vars: true``: the worker parses again
when ``--vars`` change, as a stock dbt process would). The gated resource runs with no class
limit, so every resource runs dbt's own schedule and the difference is the mechanism: the worker
and ``orch-dbt`` relay, the gate, the cap file, the extra metadata, the timeline and the
runtime-history record, less what the worker saves (dbt's import and parse per command) and
dagster-dbt's ``<dbt_executable> --version`` subprocess, which the gated resource answers from
the installed dbt Core. A first round warms up and is not counted.

Prints per build the median wall of the materialization, dbt's own ``elapsed_time`` (summed
over the commands), the nodes run, and the ratio against ``stock``; the load average before and
after. Then, once, the resident memory (RSS, psutil) of a gated step's dbt worker: started (dbt
imported), after ``dbt ls`` (the project parsed), after each year, and the peak while the years
ran (sampled every 0.1 s).
(No ``from __future__ import annotations``: ``@dbt_assets`` reads the context annotation.)
"""

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import psutil
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orch_assets.dbt import ExecutionClassTranslator, GatedDbtCliResource
from orch_assets.simulation.selection import (
    conditional_exclusions,
    later_years_exclusions,
    load_project_vars,
)
from orch_assets.simulation.years import YearPlan

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NO_LIMITS: dict[str, int | None] = {"parallel_safe": None, "sequential": None, "conditional": None}
START_YEAR = 2025
MB = 1024 * 1024
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class Build:
    project: Path
    manifest: Path
    commands: list[list[str]]
    # One @dbt_assets command (the stock idiom), or the commands in one op.
    assets: bool
    labels: tuple[str, ...]


@dataclass
class Sample:
    wall: float
    elapsed: float
    nodes: int


def _parse(project: Path) -> Path:
    subprocess.run(
        [str(BIN / "dbt"), "parse", "--project-dir", str(project), "--profiles-dir",
         str(project), "--quiet"],
        check=True,
    )  # fmt: skip
    return project / "target" / "manifest.json"


def _resource(label: str, project: Path) -> DbtCliResource:
    if label == "stock":
        return DbtCliResource(project_dir=project, dbt_executable=str(BIN / "dbt"))
    return GatedDbtCliResource(
        project_dir=project, class_limits=NO_LIMITS, reparse_on_vars=label == "gated-reparse"
    )


def _finished(invocation: Any, elapsed: list[float], nodes: list[int]) -> None:
    run_results = invocation.get_artifact("run_results.json")
    elapsed.append(float(run_results["elapsed_time"]))
    nodes.append(len(run_results["results"]))


def _assets(build: Build, gated: bool, elapsed: list[float], nodes: list[int]) -> Any:
    """The stock idiom: one ``@dbt_assets`` whose body streams one command."""
    translator = ExecutionClassTranslator() if gated else DagsterDbtTranslator()
    (args,) = build.commands

    @dbt_assets(manifest=build.manifest, dagster_dbt_translator=translator)
    def assets(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        invocation = dbt.cli(args, context=context)
        yield from invocation.stream()
        _finished(invocation, elapsed, nodes)

    return assets


def _commands_job(
    build: Build, gated: bool, elapsed: list[float], nodes: list[int]
) -> dg.JobDefinition:
    """An op running ``build``'s commands one after the other in its one step."""
    manifest = json.loads(build.manifest.read_text())
    translator = ExecutionClassTranslator() if gated else DagsterDbtTranslator()

    @dg.op(out={}, required_resource_keys={"dbt"})
    def commands(context: dg.OpExecutionContext) -> Iterator[Any]:
        dbt = context.resources.dbt
        for args in build.commands:
            step = {"run_context": context} if gated else {}
            invocation = dbt.cli(args, manifest=manifest, dagster_dbt_translator=translator, **step)
            for event in invocation.stream():
                if isinstance(event, (dg.AssetMaterialization, dg.AssetObservation)):
                    yield event
            _finished(invocation, elapsed, nodes)

    @dg.job
    def years() -> None:
        commands()

    return years


def _run(build: Build, label: str, database: Path) -> Sample:
    """One materialization of ``build`` with the resource ``label``, timed."""
    elapsed: list[float] = []
    nodes: list[int] = []
    gated = label != "stock"
    # The simulation's profile writes ./workforce.duckdb in the project directory.
    (build.project / "workforce.duckdb").unlink(missing_ok=True)
    os.environ["SHOP_DUCKDB_PATH"] = str(database)
    resources = {"dbt": _resource(label, build.project)}
    # dagster-dbt echoes dbt's output to stdout: hidden, as are the step's INFO lines.
    with dg.instance_for_test() as instance, contextlib.redirect_stdout(io.StringIO()):
        started = time.perf_counter()
        if build.assets:
            result = dg.materialize(
                [_assets(build, gated, elapsed, nodes)], run_config=QUIET, instance=instance,
                resources=resources, raise_on_error=False,
            )  # fmt: skip
        else:
            result = _commands_job(build, gated, elapsed, nodes).execute_in_process(
                run_config=QUIET, instance=instance, resources=resources, raise_on_error=False
            )
        wall = time.perf_counter() - started
    if not result.success:
        raise RuntimeError(f"{label} build of {build.project} failed")
    return Sample(wall, sum(elapsed), sum(nodes))


def _year_commands(project: Path, manifest: Path, years: int, employees: int) -> list[list[str]]:
    """The simulation's own ``dbt build`` arguments for each year (YearPlan.build_args)."""
    nodes = json.loads(manifest.read_text())
    dbt_vars = {"start_year": START_YEAR, "n_employees": employees, "random_seed": 42}
    exclude = conditional_exclusions(nodes, dbt_vars, load_project_vars(project))
    plan = YearPlan(
        years=list(range(START_YEAR, START_YEAR + years)), threads=2, vars=dbt_vars,
        database_path=project / "workforce.duckdb", lock_wait_seconds=10.0, publish=None,
        exclude=exclude, later_years_exclude=later_years_exclusions(nodes, exclude),
    )  # fmt: skip
    return [plan.build_args(index, year) for index, year in enumerate(plan.years)]


def _builds(work: Path, years: int, employees: int) -> dict[str, Build]:
    shop = REPO / "examples" / "shop" / "dbt_project"
    simulation = work / "simulation"
    shutil.copytree(
        REPO / "dbt_project",
        simulation,
        ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*"),
    )
    manifest = _parse(simulation)
    year_vars = json.dumps({"simulation_year": START_YEAR, "n_employees": employees})
    one_year = ["build", "--threads", "2", "--exclude-resource-type", "unit_test",
                "--vars", year_vars]  # fmt: skip
    return {
        "example": Build(shop, _parse(shop), [["build"]], True, ("stock", "gated")),
        "year": Build(simulation, manifest, [one_year], True, ("stock", "gated")),
        "years": Build(
            simulation,
            manifest,
            _year_commands(simulation, manifest, years, employees),
            False,
            ("stock", "gated", "gated-reparse"),
        ),
    }


def _rss_mb(pid: int | None) -> float:
    return psutil.Process(pid).memory_info().rss / MB if pid is not None else float("nan")


def worker_memory(build: Build) -> dict[str, Any]:
    """RSS of a gated step's dbt worker: started, parsed (``dbt ls``), after each command of
    ``build``, and the peak while they ran."""
    manifest = json.loads(build.manifest.read_text())
    rows: dict[str, Any] = {"years": [], "peak": 0.0}
    stop = threading.Event()

    def sample(pid: int) -> None:
        while not stop.wait(0.1):
            try:
                rows["peak"] = max(rows["peak"], _rss_mb(pid))
            except psutil.NoSuchProcess:
                return

    @dg.op(required_resource_keys={"dbt"})
    def probe(context: dg.OpExecutionContext) -> None:
        dbt = context.resources.dbt
        pid = dbt.worker(context).pid
        rows["started"] = _rss_mb(pid)
        dbt.cli(["ls", "--resource-type", "model"], manifest=manifest, run_context=context).wait()
        rows["parsed"] = _rss_mb(pid)
        threading.Thread(target=sample, args=(pid,), daemon=True).start()
        for args in build.commands:
            dbt.cli(args, manifest=manifest, run_context=context).wait()
            rows["years"].append(_rss_mb(pid))

    @dg.job
    def memory() -> None:
        probe()

    (build.project / "workforce.duckdb").unlink(missing_ok=True)
    resources = {"dbt": _resource("gated", build.project)}
    try:
        with dg.instance_for_test() as instance, contextlib.redirect_stdout(io.StringIO()):
            memory.execute_in_process(run_config=QUIET, instance=instance, resources=resources)
    finally:
        stop.set()
    return rows


def _table(
    names: list[str], builds: dict[str, Build], samples: dict[tuple[str, str], list[Sample]]
) -> None:
    print("\n| build | resource | nodes | wall median | dbt elapsed median | wall vs stock |")
    print("|---|---|---|---|---|---|")
    for name in names:
        stock = statistics.median(s.wall for s in samples[(name, "stock")])
        for label in builds[name].labels:
            values = samples[(name, label)]
            wall = statistics.median(s.wall for s in values)
            elapsed = statistics.median(s.elapsed for s in values)
            ratio = wall / stock
            print(f"| {name} | {label} | {values[0].nodes} | {wall:.2f} s | {elapsed:.2f} s | "
                  f"{ratio:.3f} ({(ratio - 1) * 100:+.1f} %) |")  # fmt: skip
    print(f"n = {len(samples[(names[0], 'stock')])} per row, interleaved")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--builds", nargs="+", default=["example", "year", "years"],
                        choices=["example", "year", "years"])  # fmt: skip
    parser.add_argument("--years", type=int, default=5, help="years of the `years` build")
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument("--no-memory", action="store_true", help="skip the worker's RSS")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gated_resource_"))
    builds = _builds(work, options.years, options.employees)
    load_before = os.getloadavg()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}; "
          f"{os.cpu_count()} CPUs; {options.employees} employees", flush=True)  # fmt: skip
    samples: dict[tuple[str, str], list[Sample]] = {}
    # Repeat 0 warms up (first imports, dbt's first parse of each project) and is not counted.
    for repeat in range(options.repeats + 1):
        for name in options.builds:
            build = builds[name]
            shift = repeat % len(build.labels)
            for label in build.labels[shift:] + build.labels[:shift]:
                database = work / name / f"{label}-{repeat}.duckdb"
                database.parent.mkdir(parents=True, exist_ok=True)
                sample = _run(build, label, database)
                if repeat:
                    samples.setdefault((name, label), []).append(sample)
                print(f"repeat {repeat} {name:<7} {label:<13} wall {sample.wall:6.2f} s  "
                      f"dbt {sample.elapsed:6.2f} s  nodes {sample.nodes}  "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    load_after = os.getloadavg()
    if options.repeats:
        _table(options.builds, builds, samples)
    print(f"load average before "
          f"{' '.join(f'{x:.2f}' for x in load_before)}, after "
          f"{' '.join(f'{x:.2f}' for x in load_after)}")  # fmt: skip
    if not options.no_memory:
        memory = worker_memory(builds["years"])
        years = ", ".join(f"{mb:.0f}" for mb in memory["years"])
        print(f"\ndbt worker RSS ({options.employees} employees): started (dbt imported) "
              f"{memory['started']:.0f} MB, parsed {memory['parsed']:.0f} MB, after each year "
              f"{years} MB, peak during the years {memory['peak']:.0f} MB")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
