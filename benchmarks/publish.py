"""Benchmark: what publishing each year's marts as Parquet costs a simulation, side by side.

    .venv/bin/python benchmarks/publish.py --employees 100000 --years 3 --repeats 3

Each repeat runs the simulation's years as its step runs them (``GatedDbtCliResource``: one dbt
worker, one ``dbt build`` per year, the bookkeeping between years in the worker;
simulation_runs.run_years, a one-op job in this process) twice on fresh DuckDB files with the
same inputs, the order alternating (after one small uncounted warm-up run): without
publishing, and publishing every finished year's marts to ``results/``
(orch_assets/simulation/publish.py, in a thread of the worker). Reported: median wall of each,
their ratio, and the median seconds the worker spent publishing (what it reports per
publication, the start-of-run sync included).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from simulation_runs import BIN, DBT_DIR, YearsOptions, run_years, warm_up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    subprocess.run(
        [str(BIN / "dbt"), "parse", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
         "--quiet"], check=True,
    )  # fmt: skip
    results: dict[str, list[dict[str, Any]]] = {"off": [], "publish": []}
    warm_up()
    print(f"{args.years} years x {args.employees} employees, dbt threads {args.threads}, "
          f"{args.repeats} repeats (interleaved), load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    for repeat in range(args.repeats):
        names = list(results) if repeat % 2 == 0 else list(results)[::-1]
        for name in names:
            options = YearsOptions(args.employees, args.years, args.threads,
                                   publish=name == "publish")  # fmt: skip
            with tempfile.TemporaryDirectory(prefix=f"bench-publish-{name}-") as work:
                result = run_years(Path(work), options)
            results[name].append(result)
            print(f"  repeat {repeat + 1} {name:8s} wall {result['wall']:6.2f} s, "
                  f"publishing {result['publish']:.2f} s", flush=True)  # fmt: skip
    off = statistics.median(r["wall"] for r in results["off"])
    on = statistics.median(r["wall"] for r in results["publish"])
    publishing = statistics.median(r["publish"] for r in results["publish"])
    print(f"\nmedian wall: without {off:.2f} s, publishing {on:.2f} s (ratio {on / off:.3f})")
    print(
        f"median time spent publishing: {publishing:.2f} s ({publishing / args.years:.2f} s a year)"
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    prints = {r["fingerprint"] for rows in results.values() for r in rows}
    print(f"outputs identical across all runs: {len(prints) == 1}")


if __name__ == "__main__":
    main()
