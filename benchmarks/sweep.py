"""Benchmark: dbt thread counts x repeats over the same simulation inputs, as real Dagster runs.

    DAGSTER_HOME=$PWD/dagster_home .venv/bin/python benchmarks/sweep.py --threads 1,2,4 --repeats 3

The same as `orch-assets sweep` (all its options apply): runs go through the Dagster instance of
$DAGSTER_HOME, are recorded in $DAGSTER_HOME/orch_runtime/runtime.duckdb, and end with the
orch_runtime_report asset (table, chart, recommendation, determinism) materialized.
"""

import sys

from orch_assets.cli import main

if __name__ == "__main__":
    sys.exit(main(["sweep", *sys.argv[1:]]))
