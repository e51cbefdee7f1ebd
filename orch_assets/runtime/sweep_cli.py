"""``orch-assets sweep``: thread settings × repeats as real runs, then the runtime report.

Argument parsing only at import (the CLI's other commands stay fast); Dagster loads on use.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import yaml

SWEEP_EPILOG = """\
Runs go through the Dagster instance of $DAGSTER_HOME and show in its UI. Example:
  DAGSTER_HOME=$PWD/dagster_home orch-assets sweep --threads 1,2,4 --repeats 3 \\
      --n-employees 20000 --start-year 2025 --end-year 2026
Exit status: 0 all runs succeeded with identical outputs, 1 a run failed, 2 outputs differ.
"""


def add_sweep_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "sweep",
        help="run the simulation at several thread counts, record runtimes, report and recommend",
        epilog=SWEEP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--threads", default="1,2,4", help="dbt thread counts (default 1,2,4)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per thread count (default 3)")
    parser.add_argument("--n-employees", type=int, default=10_000)
    parser.add_argument("--start-year", type=int, default=2025)
    parser.add_argument("--end-year", type=int, default=2026)
    parser.add_argument("--random-seed", type=int, default=42)
    parser.add_argument(
        "--config", metavar="YAML", help="file of further flat run config (scenario parameters)"
    )
    parser.add_argument(
        "--execution", metavar="JSON", help="executor block for every run, e.g. '{\"config\": {}}'"
    )
    parser.add_argument(
        "--memory-budget-gb", type=float, help="default: 80%% of this machine's RAM"
    )
    parser.add_argument(
        "--tie-tolerance",
        type=float,
        help="least tie tolerance, default 0.05 (5%%); widened to the repeats' measured noise",
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep each run's simulation database"
    )


def _run_config(args: argparse.Namespace) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if args.config:
        with open(args.config) as handle:
            config.update(yaml.safe_load(handle) or {})
    config.update(
        n_employees=args.n_employees,
        start_year=args.start_year,
        end_year=args.end_year,
        random_seed=args.random_seed,
    )
    return config


def sweep(args: argparse.Namespace) -> int:
    import dagster as dg

    from orch_assets.assets.runtime_report import materialize_runtime_report
    from orch_assets.runtime.store import RuntimeStore
    from orch_assets.runtime.sweep import (
        SweepPlan,
        parse_thread_list,
        run_sweep,
        summarize_failures,
    )

    try:
        plan = SweepPlan(
            threads=parse_thread_list(args.threads),
            repeats=args.repeats,
            run_config=_run_config(args),
            execution=json.loads(args.execution) if args.execution else None,
            keep_data=args.keep_data,
        )
    except ValueError as error:
        print(f"orch-assets sweep: {error}")
        return 2
    try:
        instance = dg.DagsterInstance.get()
    except Exception as error:
        print(f"orch-assets sweep: needs a Dagster instance: set DAGSTER_HOME ({error})")
        return 2
    store = RuntimeStore()
    table = store.table(instance)
    result = run_sweep(instance, table, plan, progress=lambda line: print(line, flush=True))
    report_config = {
        k: v
        for k, v in {
            "memory_budget_gb": args.memory_budget_gb,
            "tie_tolerance": args.tie_tolerance,
        }.items()
        if v is not None
    }
    print("Building the runtime report ...", flush=True)
    report = materialize_runtime_report(instance, result.sweep_id, store, **report_config)
    if not report.success:
        print("The report failed; see the run in the UI.")
        return 1
    metadata = report.get_asset_materialization_events()[0].materialization.metadata
    print(str(metadata["report"].value).split("\n\n![")[0])
    print(f"\nChart: {metadata['chart'].value}" if "chart" in metadata else "")
    checks = report.get_asset_check_evaluations()
    if result.failed:
        print(f"Failed runs: {summarize_failures(result.failed)}")
        return 1
    return 0 if all(c.passed for c in checks) else 2
