"""Benchmark: GatedDbtCliResource against dagster-dbt's DbtCliResource on the same dbt build.

    .venv/bin/python benchmarks/gated_resource.py --repeats 3

Two builds, each run through the stock dagster-dbt idiom (``@dbt_assets`` whose body is
``yield from dbt.cli([...], context=context).stream()``), materialized in-process on a fresh
DuckDB file per run, the two resources interleaved (the order alternating per repeat):

  example     examples/shop: ``dbt build`` (30 nodes: 3 seeds, 6 models, 21 tests)
  simulation  dbt_project/ (a copy, so nothing is written into the repository): one simulated
              year, ``dbt build --exclude-resource-type unit_test --vars {simulation_year: ...}``

The gated resource runs with no class limit (``parallel_safe``, ``sequential`` and
``conditional`` all up to the cap), so both run the same schedule and the difference is the
cost of the mechanism: the ``orch-dbt`` process, the gate, the cap file and the extra metadata,
the timeline and the runtime-history record, less what the gated resource saves: dagster-dbt
runs ``<dbt_executable> --version`` as a subprocess for every resource (seconds: it imports
dbt), which the gated resource answers from the installed dbt Core. A first round warms up and
is not counted.
Prints per build the median wall of the
materialization and of dbt's own ``elapsed_time``, and the gated/stock ratio.
(No ``from __future__ import annotations``: ``@dbt_assets`` reads the context annotation.)
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orch_assets.dbt import ExecutionClassTranslator, GatedDbtCliResource

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NO_LIMITS: dict[str, int | None] = {"parallel_safe": None, "sequential": None, "conditional": None}


def _parse(project: Path) -> Path:
    subprocess.run(
        [str(BIN / "dbt"), "parse", "--project-dir", str(project), "--profiles-dir",
         str(project), "--quiet"],
        check=True,
    )  # fmt: skip
    return project / "target" / "manifest.json"


def _run(
    project: Path, manifest: Path, gated: bool, args: Sequence[str], env: dict[str, str]
) -> tuple[float, float]:
    """Wall seconds of the materialization and dbt's own elapsed seconds."""
    elapsed: list[float] = []
    translator = ExecutionClassTranslator() if gated else DagsterDbtTranslator()

    @dbt_assets(manifest=manifest, dagster_dbt_translator=translator)
    def build(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        invocation = dbt.cli(list(args), context=context)
        yield from invocation.stream()
        elapsed.append(float(invocation.get_artifact("run_results.json")["elapsed_time"]))

    resource = (
        GatedDbtCliResource(project_dir=project, class_limits=NO_LIMITS)
        if gated
        else DbtCliResource(project_dir=project, dbt_executable=str(BIN / "dbt"))
    )
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with dg.instance_for_test() as instance:
            started = time.perf_counter()
            result = dg.materialize([build], resources={"dbt": resource}, instance=instance)
            wall = time.perf_counter() - started
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if not result.success:
        raise RuntimeError(f"{'gated' if gated else 'stock'} build failed")
    return wall, elapsed[0]


def _builds(work: Path) -> dict[str, tuple[Path, Path, list[str], Path]]:
    """name -> (project dir, manifest, dbt args, directory for its databases)."""
    shop = REPO / "examples" / "shop" / "dbt_project"
    simulation = work / "simulation"
    shutil.copytree(
        REPO / "dbt_project",
        simulation,
        ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*"),
    )
    year_vars = json.dumps({"simulation_year": 2025})
    return {
        "example": (shop, _parse(shop), ["build"], work / "example"),
        "simulation": (
            simulation,
            _parse(simulation),
            [
                "build",
                "--threads",
                "2",
                "--exclude-resource-type",
                "unit_test",
                "--vars",
                year_vars,
            ],
            simulation,
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--builds", nargs="+", default=["example", "simulation"])
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gated_resource_"))
    builds = _builds(work)
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    # Repeat 0 warms up (first imports, dbt's first parse of each project) and is not counted.
    for repeat in range(options.repeats + 1):
        for name in options.builds:
            project, manifest, args, data = builds[name]
            order = (False, True) if repeat % 2 == 0 else (True, False)
            for gated in order:
                label = "gated" if gated else "stock"
                database = data / f"{label}-{repeat}.duckdb"
                database.parent.mkdir(parents=True, exist_ok=True)
                # The simulation's profile writes ./workforce.duckdb in the project directory.
                (project / "workforce.duckdb").unlink(missing_ok=True)
                wall, elapsed = _run(
                    project, manifest, gated, args, {"SHOP_DUCKDB_PATH": str(database)}
                )
                if repeat:
                    samples.setdefault((name, label), []).append((wall, elapsed))
                print(
                    f"repeat {repeat} {name:<10} {label:<5} wall {wall:6.2f} s  dbt {elapsed:6.2f} s",
                    flush=True,
                )
    print("\nbuild       resource  wall median  dbt median  (n)")
    for name in options.builds:
        medians = {}
        for label in ("stock", "gated"):
            values = samples[(name, label)]
            medians[label] = (
                statistics.median(v[0] for v in values),
                statistics.median(v[1] for v in values),
            )
            print(
                f"{name:<11} {label:<9} {medians[label][0]:9.2f} s {medians[label][1]:9.2f} s  ({len(values)})"
            )
        ratio = medians["gated"][0] / medians["stock"][0]
        print(f"{name:<11} gated/stock wall {ratio:.3f}  ({(ratio - 1) * 100:+.1f} %)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
