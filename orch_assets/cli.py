"""``orch-assets``: command-line helpers around the code location."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from orch_assets.resources import SimulationStore
from orch_assets.runtime.sweep_cli import add_sweep_parser, sweep
from orch_assets.simulation.database import completed_years
from orch_assets.simulation.readers import (
    DatabaseBusyError,
    fetch_rows,
    read_only,
    read_published_rows,
)
from orch_assets.simulation.results import SUMMARY_MODEL

SUMMARY_QUERY = f"select * from {SUMMARY_MODEL} order by simulation_year"


def _print_table(rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0]) if rows else []
    widths = [max(len(c), *(len(f"{r[c]}") for r in rows)) for c in columns]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(f"{row[c]}".rjust(w) for c, w in zip(columns, widths, strict=True)))


def summary(data_dir: str | None, simulation: str) -> int:
    """Prints where a simulation's results are and its per-year summary.

    While a run writes the database, prints the years it has published so far instead.
    """
    path = SimulationStore(data_dir=data_dir).database_path(simulation)
    if not path.exists():
        print(f"No simulation database at {path}: run the workforce_simulation job first.")
        return 1
    try:
        with read_only(path) as con:
            rows = fetch_rows(con, SUMMARY_QUERY)
            completed = set(completed_years(con))
    except DatabaseBusyError as busy:
        published = read_published_rows(path, [SUMMARY_MODEL], SUMMARY_QUERY)
        shown = (f"showing published results up to year {published.years[-1]}"
                 if published.years else "no year published yet")  # fmt: skip
        print(f"{busy}; {shown} ({path.parent / 'results'})")
        if published.rows:
            _print_table(published.rows)
        return 0
    print(f"Results: {path}")
    print("Tables: fct_workforce_snapshot (one row per employee per year), fct_yearly_events,")
    print("        fct_workforce_summary (one row per year). Open the UI with `make ui`.")
    print(f"Parquet copies per year (readable while a run writes): {path.parent / 'results'}\n")
    for row in rows:
        row["complete"] = "yes" if row["simulation_year"] in completed else "NO"
    _print_table(rows)
    incomplete = sorted({r["simulation_year"] for r in rows} - completed)
    if incomplete:
        print(
            f"\nIncomplete years {', '.join(map(str, incomplete))}: an interrupted run left part of "
            "them (or rewrote an earlier year); not results. The next run on this database "
            "removes them."
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orch-assets")
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("summary", help="where a simulation's results are, per year")
    show.add_argument(
        "--data-dir", help="simulation data directory (default: $ORCH_DATA_DIR or ./data)"
    )
    show.add_argument("--simulation", default="baseline")
    add_sweep_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "sweep":
        return sweep(args)
    return summary(args.data_dir, args.simulation)


if __name__ == "__main__":
    sys.exit(main())
