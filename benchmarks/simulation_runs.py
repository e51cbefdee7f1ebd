"""What the simulation benchmarks share: the simulation's years in one Dagster step, in-process;
``dagster job execute`` of ``workforce_simulation``; and the outputs' fingerprint.

:func:`run_years` runs the workforce project's years exactly as the simulation's step does
(``orch_assets.simulation.years.SimulationYears``: one ``dbt build --vars {simulation_year: Y}``
per year through ``GatedDbtCliResource``, all in the step's one dbt worker, the bookkeeping
between years in that worker too), in a one-op job executed in this process, with the knobs the
benchmarks compare: the gate (``gate: false`` is plain dbt ``--threads``, as
``ORCH_MODEL_GATE=off``), the class limits, the once-per-simulation rule and publishing. What it
leaves out of the real step: the database pool and writer lock, the input checks and the
runtime-history record (milliseconds, and the same in every configuration).
(No ``from __future__ import annotations``: ``@dg.op`` reads the context annotation.)
"""

import atexit
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import yaml

from orch_assets.dbt import GatedDbtCliResource
from orch_assets.dbt.node_metadata import parents_of
from orch_assets.project import WorkforceTranslator
from orch_assets.simulation.database import (
    RECORD_COMPLETED_YEAR_SQL,
    UNMARK_YEAR_SQL,
    ensure_tables,
)
from orch_assets.simulation.published import published_tables, results_dir
from orch_assets.simulation.results import SUMMARY_QUERIES, counted_tables
from orch_assets.simulation.selection import (
    conditional_exclusions,
    later_years_exclusions,
    load_project_vars,
)
from orch_assets.simulation.years import SimulationYears, YearPlan

REPO = Path(__file__).resolve().parents[1]
DBT_DIR = REPO / "dbt_project"
BIN = Path(sys.executable).parent
START_YEAR = 2025


def fingerprint(db: Path) -> str:
    """Rows and a hash of the simulation's two fact tables, per year."""
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


def parse_project(repo: Path) -> None:
    """``dbt parse`` of ``repo``'s dbt project: dagster-dbt reads the manifest it writes."""
    project = repo / "dbt_project"
    subprocess.run([str(BIN / "dbt"), "parse", "--project-dir", str(project), "--profiles-dir",
                    str(project), "--quiet"], check=True)  # fmt: skip


def checkout(ref: str) -> Path:
    """A worktree of ``ref`` in a temporary directory (removed at exit), its dbt project parsed."""
    path = Path(tempfile.mkdtemp(prefix="bench-before-")) / "repo"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), ref],
                   check=True, capture_output=True)  # fmt: skip
    atexit.register(subprocess.run, ["git", "-C", str(REPO), "worktree", "remove", "--force",
                                     str(path)], check=False, capture_output=True)  # fmt: skip
    parse_project(path)
    return path


# -- the simulation's years, in-process ------------------------------------------------------


@dataclass(frozen=True)
class YearsOptions:
    """One configuration of :func:`run_years`."""

    employees: int
    years: int
    threads: int = 2
    gate: bool = True
    # None: the executor's defaults (sequential 1, conditional 2, parallel_safe up to the cap).
    class_limits: Mapping[str, int | None] | None = None
    once_per_simulation: bool = True
    publish: bool = False


class _TimedYears(SimulationYears):
    """The simulation's years, adding up the seconds the worker reports for publishing."""

    publish_seconds: float = 0.0

    def _log_published(self, published: Sequence[Mapping[str, Any]] | None) -> None:
        self.publish_seconds += sum(float(m["seconds"]) for m in published or () if m)
        super()._log_published(published)


def _year_rows(years: _TimedYears, manifest: Mapping[str, Any]) -> list[dict[str, float]]:
    parents = parents_of(manifest)
    rows = []
    for year in sorted(years.timings.years):
        timeline = years.timings.years[year]
        seconds = {t["unique_id"]: t["end"] - t["start"] for t in timeline.timings}
        rows.append({
            "wall": timeline.wall_seconds,
            "models": sum(s for u, s in seconds.items() if u.startswith("model.")),
            "tests": sum(s for u, s in seconds.items() if u.startswith(("test.", "unit_test."))),
            "critical": timeline.critical_path(parents)[0],
        })  # fmt: skip
    return rows


def run_years(work: Path, options: YearsOptions) -> dict[str, Any]:
    """The simulation's years into ``work/workforce.duckdb`` (see the module docstring).

    Returns the wall seconds of the whole job (worker start, parse, years, publishing), per
    year its wall, Σ model and Σ test seconds and critical path, the seconds spent publishing
    and the outputs' fingerprint."""
    manifest = json.loads((DBT_DIR / "target" / "manifest.json").read_text())
    db = work / "workforce.duckdb"
    con = duckdb.connect(str(db))
    ensure_tables(con)
    con.close()
    dbt_vars = {"start_year": START_YEAR, "n_employees": options.employees, "random_seed": 42}
    exclude = conditional_exclusions(manifest, dbt_vars, load_project_vars(DBT_DIR))
    publish = {"results_dir": str(results_dir(db)), "tables": published_tables(manifest),
               "writer": {"run_id": "benchmark"}}  # fmt: skip
    plan = YearPlan(
        years=list(range(START_YEAR, START_YEAR + options.years)), threads=options.threads,
        vars=dbt_vars, database_path=db, lock_wait_seconds=10.0,
        publish=publish if options.publish else None, exclude=exclude,
        later_years_exclude=later_years_exclusions(manifest, exclude)
        if options.once_per_simulation else [],
        year_started_sql=[UNMARK_YEAR_SQL], year_completed_sql=[RECORD_COMPLETED_YEAR_SQL],
        summary_queries=SUMMARY_QUERIES, row_counts=counted_tables(manifest),
    )  # fmt: skip
    # As the simulation's step configures it (orch_assets/simulation/step.py).
    dbt = GatedDbtCliResource(
        project_dir=str(DBT_DIR), profiles_dir=str(DBT_DIR), worker_cwd=str(work),
        reparse_on_vars=False, record_history=False, gate=options.gate,
        class_limits=dict(options.class_limits) if options.class_limits is not None else None,
    )  # fmt: skip
    outcome: dict[str, Any] = {}

    @dg.op(out={})
    def simulate(context: dg.OpExecutionContext) -> Iterator[dg.AssetMaterialization]:
        years = _TimedYears(context, dbt, plan, manifest, WorkforceTranslator())
        try:
            for event in years.events():
                if isinstance(event, dg.AssetMaterialization):
                    yield event
        finally:
            dbt.stop_workers()
        outcome["years"] = _year_rows(years, manifest)
        outcome["publish"] = years.publish_seconds

    @dg.job
    def simulation_years() -> None:
        simulate()

    # dagster-dbt echoes dbt's output to stdout: hidden, as are the step's INFO lines.
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    with dg.instance_for_test() as instance, contextlib.redirect_stdout(io.StringIO()):
        started = time.perf_counter()
        result = simulation_years.execute_in_process(
            run_config=quiet, instance=instance, raise_on_error=False
        )
        wall = time.perf_counter() - started
    if not result.success:
        failures = [e.step_failure_data.error for e in result.all_events if e.is_step_failure]
        raise SystemExit(f"simulation years failed: {failures}")
    return {**outcome, "wall": wall, "fingerprint": fingerprint(db)}


def warm_up() -> None:
    """One small uncounted :func:`run_years`: the first in a process pays imports (Dagster's
    in-process execution, dagster-dbt's event handling, the chart) that later ones do not."""
    with tempfile.TemporaryDirectory(prefix="bench-warm-up-") as work:
        run_years(Path(work), YearsOptions(employees=100, years=1))


# -- dagster job execute ---------------------------------------------------------------------


def job_command(
    work: Path,
    repo: Path,
    employees: int,
    years: int,
    threads: int,
    env: Mapping[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """`dagster job execute` of ``repo``'s code, and its environment (``os.environ`` and
    ``env``): a fresh DAGSTER_HOME and data_dir in ``work`` (the simulation's database is
    ``work/data/baseline/workforce.duckdb``)."""
    home = work / "home"
    home.mkdir(parents=True)
    shutil.copy(repo / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    config = work / "run.yaml"
    config.write_text(yaml.safe_dump({
        "start_year": START_YEAR, "end_year": START_YEAR - 1 + years, "n_employees": employees,
        "threads": threads,
        "resources": {"simulation_store": {"config": {"data_dir": str(work / "data")}}},
    }))  # fmt: skip
    environment = {**os.environ, **(env or {}), "DAGSTER_HOME": str(home), "PYTHONPATH": str(repo)}
    command = [str(BIN / "dagster"), "job", "execute", "-m", "orch_assets.definitions",
               "-j", "workforce_simulation", "-c", str(config)]  # fmt: skip
    return command, environment


def run_job_command(
    work: Path,
    repo: Path,
    employees: int,
    years: int,
    threads: int,
    env: Mapping[str, str] | None = None,
) -> tuple[str, float, float]:
    """Runs :func:`job_command`; its merged output, wall seconds and CPU seconds (the CLI and
    every process it waited for, the dbt worker included: less moved by other work on a shared
    machine than the wall). A failed run ends the benchmark with its output's tail."""
    command, environment = job_command(work, repo, employees, years, threads, env)
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, env=environment, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"run failed ({repo}):\n{output[-3000:]}")
    return output, wall, usage.ru_utime + usage.ru_stime


def run_job(
    work: Path,
    repo: Path,
    employees: int,
    years: int,
    threads: int,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """:func:`run_job_command`'s wall and CPU, and the fingerprint of the outputs."""
    _, wall, cpu = run_job_command(work, repo, employees, years, threads, env)
    database = work / "data" / "baseline" / "workforce.duckdb"
    return {"wall": wall, "cpu": cpu, "fingerprint": fingerprint(database)}
