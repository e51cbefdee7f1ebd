"""``orch-assets``: command-line helpers around the code location."""

from __future__ import annotations

import argparse
import sys

import duckdb

from orch_assets.resources import SimulationStore
from orch_assets.runtime.sweep_cli import add_sweep_parser, sweep


def summary(data_dir: str | None, simulation: str) -> int:
    """Prints where a simulation's results are and its per-year summary."""
    path = SimulationStore(data_dir=data_dir).database_path(simulation)
    if not path.exists():
        print(f"No simulation database at {path}: run the workforce_simulation job first.")
        return 1
    con = duckdb.connect(str(path), read_only=True)
    try:
        cursor = con.execute("select * from fct_workforce_summary order by simulation_year")
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        con.close()
    print(f"Results: {path}")
    print("Tables: fct_workforce_snapshot (one row per employee per year), fct_yearly_events,")
    print("        fct_workforce_summary (one row per year). Open the UI with `make ui`.\n")
    widths = [max(len(c), *(len(f"{r[i]}") for r in rows)) for i, c in enumerate(columns)]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    for row in rows:
        print("  ".join(f"{v}".rjust(w) for v, w in zip(row, widths)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orch-assets")
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("summary", help="where a simulation's results are, per year")
    show.add_argument("--data-dir", help="simulation data directory (default: $ORCH_DATA_DIR or ./data)")
    show.add_argument("--simulation", default="baseline")
    add_sweep_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "sweep":
        return sweep(args)
    return summary(args.data_dir, args.simulation)


if __name__ == "__main__":
    sys.exit(main())
