"""The simulation's bookkeeping between years, run inside the step's dbt worker
(``GatedDbtCliResource.call_in_worker``), on a connection that shares dbt's DuckDB instance.

:func:`open_database` opens the file before dbt does, waiting (bounded) for a reader's lock, and
keeps that connection for the whole simulation: dbt's connections in this process share it, and
no reader can take the file between years. Around each year's ``dbt build`` the step calls
:func:`year_started` (the year and every later one marked incomplete) and, once the build
succeeded, :func:`year_completed` (the year recorded complete, its summary and row counts read,
its Parquet copy published in a thread while the next year builds). :func:`finish` waits for the
publishing and closes the connection.

Imports only DuckDB and the publishing module: the worker never imports Dagster for this.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from orch_assets.dbt.lock import connect_waiting
from orch_assets.simulation import publish


class _Simulation:
    def __init__(self, con: Any, publish_spec: dict[str, Any] | None) -> None:
        self.con = con
        self.publish_spec = publish_spec
        self.publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish")
        self.publishing: list[Future[dict[str, Any] | None]] = []


_STATE: dict[str, _Simulation] = {}


def _simulation() -> _Simulation:
    if "current" not in _STATE:
        raise RuntimeError("open_database was not called in this dbt worker")
    return _STATE["current"]


def open_database(
    database_path: str,
    lock_wait_seconds: float,
    publish_spec: dict[str, Any] | None,
    years: list[int],
) -> dict[str, Any]:
    """Opens (and keeps) the database; unpublishes the years this run rewrites and every later
    one. Returns how long it waited for another process's lock, and what it unpublished."""
    waits: list[dict[str, Any]] = []

    def on_wait(pid: int | None, program: str, waited: float) -> None:
        waits.append({"pid": pid, "program": program, "waited_seconds": round(waited, 1)})

    con = connect_waiting(database_path, lock_wait_seconds, on_wait)
    _STATE["current"] = _Simulation(con, publish_spec)
    published = _sync(con.cursor(), publish_spec, None, years)
    return {"waits": waits, "published": published}


def _sync(
    con: Any, spec: dict[str, Any] | None, year: int | None, years: list[int]
) -> dict[str, Any] | None:
    """At start (``year`` None): mirror the database; after a year: publish it."""
    if not spec:
        return None
    results_dir, tables = Path(spec["results_dir"]), spec["tables"]
    writer = {**(spec.get("writer") or {}), "pid": os.getpid()}
    started = time.perf_counter()
    if year is None:
        # Years run in order, each from the one before: rewriting the first year of the run
        # invalidates every later one, until the run has rewritten them or its caller says the
        # stored ones still hold.
        later = [y for y in publish.complete_years(con, tables) if y > min(years)]
        removed, added = publish.sync(con, results_dir, tables, sorted({*years, *later}), writer)
    elif year in publish.complete_years(con, tables):
        publish.publish_year(con, results_dir, tables, year, writer)
        removed, added = [], [year]
    else:
        return None
    return {"added": added, "removed": removed, "results_dir": str(results_dir),
            "seconds": round(time.perf_counter() - started, 3)}  # fmt: skip


def year_started(year: int, statements: list[str]) -> None:
    con = _simulation().con.cursor()
    for sql in statements:
        con.execute(sql, {"year": year})


def year_completed(
    year: int,
    statements: list[str],
    summary_queries: dict[str, str],
    row_counts: dict[str, dict[str, str | None]],
) -> dict[str, Any]:
    """Records the built year, reads its results, starts publishing it. Returns the summary
    query results, the row counts and the publications finished since the last call."""
    simulation = _simulation()
    con = simulation.con
    for sql in statements:
        con.cursor().execute(sql, {"year": year})
    summary = _run_summary_queries(con.cursor(), summary_queries, year)
    published = _collect(simulation, block=False)
    simulation.publishing.append(
        simulation.publisher.submit(_sync, con.cursor(), simulation.publish_spec, year, [year])
    )
    counts = _row_counts(con.cursor(), row_counts, year)
    return {"results": summary, "row_counts": counts, "published": published}


def finish() -> dict[str, Any]:
    """Waits for every publication (re-raising a failed one) and closes the database."""
    simulation = _STATE.pop("current", None)
    if simulation is None:
        return {"published": []}
    try:
        return {"published": _collect(simulation, block=True)}
    finally:
        simulation.publisher.shutdown()
        simulation.con.close()


def _collect(simulation: _Simulation, block: bool) -> list[dict[str, Any]]:
    done: list[dict[str, Any]] = []
    for future in list(simulation.publishing):
        if block or future.done():
            result = future.result()
            simulation.publishing.remove(future)
            if result is not None:
                done.append(result)
    return done


def _run_summary_queries(con: Any, queries: dict[str, str], year: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, sql in queries.items():
        cursor = con.execute(sql, {"year": year} if "$year" in sql else None)
        columns = [d[0] for d in cursor.description or []]
        results[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return results


def _row_counts(
    con: Any, models: dict[str, dict[str, str | None]], year: int
) -> dict[str, dict[str, int | None]]:
    """Rows of each table built (``total``) and, where a year column is named, of this year
    (``in_year``); a relation not built (yet) is left out. The relation names come from the
    manifest, never from run config."""
    import duckdb

    counts: dict[str, dict[str, int | None]] = {}
    for unique_id, spec in models.items():
        column = spec.get("year_column")
        in_year = f"count(*) filter (where {column} = $year)" if column else "null"
        try:
            total, of_year = con.execute(
                f"select count(*), {in_year} from {spec['relation']}",
                {"year": year} if column else None,
            ).fetchone()
        except duckdb.CatalogException:
            continue
        counts[unique_id] = {"total": total, "in_year": of_year}
    return counts
