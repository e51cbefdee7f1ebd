"""Child process that runs a multi-year dbt simulation with ONE dbt start-up.

Started by :mod:`orch_assets.dbt.runner` as ``python -m orch_assets.dbt.worker REQUEST_JSON``.
It imports dbt once, parses the project once (partially, from a copy of the project's
``partial_parse.msgpack``), then runs ``dbt build --vars {simulation_year: Y, ...}`` in-process
with that manifest for each year, strictly in order, and stops at the first failed year so that
no later year is written. Its working directory is the simulation's directory, where the
profile's relative ``workforce.duckdb`` lives.

Why a child process and not dbt in the run process: dbt keeps global state (flags, adapters) and
dbt-duckdb keeps the DuckDB file locked until the process ends, so one process per simulation
gives isolation between simulations that run at the same time, a clean lock release, and a
process that a timeout can terminate. Why not one ``dbt`` CLI per year: each costs seconds of
start-up and a re-parse when ``--vars`` change.

Protocol: one JSON object per line on the original stdout (everything dbt prints goes to stderr):
``ready``, ``year_start``, ``dbt_event`` (the raw dbt structured result event of each node, as
``dbt --log-format json`` would print it), ``log``, ``year_summary`` (results of the request's
``summary_queries``, and the ``row_counts`` of the request's tables), ``published`` (years copied
to or removed from the Parquet results, see :mod:`orch_assets.dbt.publish`; a year's may come after
the next ``year_start``: it is published while the next year builds), ``year_end`` and finally
``done``; ``lock_wait`` while another process holds the database at start, ``error`` (one line)
before a non-zero exit it can explain.
In the other direction, stdin carries JSON-lines control messages from the parent
(:mod:`orch_assets.dbt.control`), routed by ``type`` to :data:`CONTROL_HANDLERS`; its end of
file, or the death of the parent (``parent_pid`` in the request), ends the worker within a second.

The worker opens the database itself before dbt does, waiting up to ``lock_wait_seconds`` for a
reader's lock, and keeps that connection: dbt's connections share its DuckDB instance, and no
reader can take the file between years. The request's ``year_started_sql`` runs on it before
each year's build and ``year_completed_sql`` right after the build succeeded (the simulation marks
the year and every later one incomplete, then the year complete, in the database). At start it
unpublishes the years it rewrites and every later year, for the same reason.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from orch_assets.dbt import publish
from orch_assets.dbt._dbt_internals import node_execution_class
from orch_assets.dbt.control import ControlChannel, dispatch, watch_parent
from orch_assets.dbt.lock import DatabaseLockedError, connect_waiting
from orch_assets.dbt.scheduling import BuildScheduler

# The events dagster-dbt turns into asset events for dbt Core (as in `dbt --log-format json`).
RESULT_EVENTS = frozenset({"LogModelResult", "LogSeedResult", "LogSnapshotResult", "LogTestResult"})
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})
# Failures that are not the project's: CPython 3.10/3.11 can raise this while dbt's threads
# compile Jinja templates at once (python/cpython#106905); the same build then succeeds. A year
# that fails with one of them is built once more, in the same worker, before it counts as failed.
TRANSIENT_ERRORS = ("AST constructor recursion depth mismatch",)


def transient_error(texts: list[str]) -> str | None:
    """The known transient failure among a failed build's messages, if any."""
    return next((known for known in TRANSIENT_ERRORS if any(known in t for t in texts)), None)


# Control message type -> handler, called in the control thread; looked up per message, so
# handlers registered after the channel started are used.
CONTROL_HANDLERS: dict[str, Callable[[dict[str, Any]], None]] = {}


class Protocol:
    """Writes protocol lines to a private copy of stdout; fd 1 itself is pointed at stderr."""

    def __init__(self) -> None:
        self._out: IO[str] = os.fdopen(os.dup(1), "w", buffering=1)
        self._lock = threading.Lock()
        os.dup2(2, 1)
        sys.stdout = sys.stderr

    def send(self, kind: str, **payload: Any) -> None:
        line = json.dumps({"type": kind, **payload}, default=str) + "\n"
        with self._lock:
            self._out.write(line)


def _parse(runner_class: Any, common_args: list[str], target_path: str, seed: str | None) -> Any:
    """Parses once; a manifest loaded from manifest.json cannot compile generic tests."""
    seeded = os.path.join(target_path, "partial_parse.msgpack")
    if (
        seed
        and os.path.exists(seed)
        and (not os.path.exists(seeded) or os.path.getmtime(seed) > os.path.getmtime(seeded))
    ):
        shutil.copy2(seed, seeded)
    result = runner_class().invoke(["parse", *common_args])
    if not result.success:
        raise RuntimeError(f"dbt parse failed: {result.exception}")
    return result.result


def _run_summary_queries(con: Any, queries: dict[str, str], year: int) -> dict[str, Any]:
    """Runs read queries between dbt invocations, on a connection sharing dbt's DuckDB instance."""
    results: dict[str, Any] = {}
    for name, sql in queries.items():
        cursor = con.execute(sql, {"year": year} if "$year" in sql else None)
        columns = [d[0] for d in cursor.description or []]
        results[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return results


def _row_counts(
    con: Any, models: dict[str, dict[str, str | None]], year: int
) -> dict[str, dict[str, int | None]]:
    """Rows of each table the project has built (``total``) and, where a year column is named,
    of this year (``in_year``); a relation not built (yet) is left out. The relation names come
    from the manifest, never from run config."""
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


def _open_database(request: dict[str, Any], protocol: Protocol) -> Any:
    """The worker's own connection, waiting (bounded) for a reader that holds the file."""

    def on_wait(pid: int | None, program: str, waited: float) -> None:
        protocol.send("lock_wait", pid=pid, program=program, waited_seconds=round(waited, 1),
                      limit_seconds=request["lock_wait_seconds"])  # fmt: skip

    return connect_waiting(request["database_path"], request["lock_wait_seconds"], on_wait)


def _run_year_statements(con: Any, statements: list[str], year: int) -> None:
    """Bookkeeping of the caller around a year, e.g. marking it complete once built and tested."""
    for sql in statements:
        con.execute(sql, {"year": year})


def _sync_results(con: Any, request: dict[str, Any], protocol: Protocol, year: int | None) -> None:
    """At start (``year`` None): mirror the database; after a year: publish it."""
    target = request.get("publish")
    if not target:
        return
    results_dir, tables = Path(target["results_dir"]), target["tables"]
    writer = {**(target.get("writer") or {}), "pid": os.getpid()}
    started = time.perf_counter()
    if year is None:
        # Years run in order, each from the one before: rewriting the first year of the request
        # invalidates every later one, until the run has rewritten them or its caller says the
        # stored ones still hold.
        first = min(request["years"])
        later = [y for y in publish.complete_years(con, tables) if y > first]
        rewritten = sorted({*request["years"], *later})
        removed, added = publish.sync(con, results_dir, tables, rewritten, writer)
    elif year in publish.complete_years(con, tables):
        publish.publish_year(con, results_dir, tables, year, writer)
        removed, added = [], [year]
    else:
        return
    protocol.send("published", added=added, removed=removed, results_dir=str(results_dir),
                  seconds=round(time.perf_counter() - started, 3))  # fmt: skip


def _wait_published(pending: list[Future[None]], block: bool) -> None:
    """Re-raises a failed publish; with ``block``, waits for every publish first."""
    for future in list(pending):
        if block or future.done():
            future.result()
            pending.remove(future)


def run(request: dict[str, Any], protocol: Protocol) -> int:
    started = time.perf_counter()
    # The database first: a reader's lock is met (and waited for) before seconds of dbt import.
    try:
        con = _open_database(request, protocol)
    except DatabaseLockedError as error:
        protocol.send("error", message=str(error))
        return 1
    _sync_results(con.cursor(), request, protocol, None)
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    common_args = [
        "--project-dir", request["project_dir"],
        "--profiles-dir", request["profiles_dir"],
        "--target-path", request["target_path"],
        # dbt.log beside the simulation's database, not one file shared (and rotated) by every
        # simulation running at once. Info level: per-node results and errors; the debug level
        # (every statement) costs the worker noticeably more CPU.
        "--log-path", request["log_path"],
        "--log-level-file", "info",
        "--quiet",
        "--no-use-colors",
    ]  # fmt: skip
    scheduler = BuildScheduler(request, protocol.send)
    # Cap changes and (all_scenarios) slot grants from the run process.
    CONTROL_HANDLERS.update(cap=scheduler.on_control, grant=scheduler.on_control)
    manifest = _parse(dbtRunner, common_args, request["target_path"], request["partial_parse_seed"])
    protocol.send("ready", startup_seconds=round(time.perf_counter() - started, 3))

    year_state: dict[str, Any] = {"year": None, "counts": Counter(), "failures": [], "errors": []}

    def on_event(event: Any) -> None:
        name = event.info.name
        if name in RESULT_EVENTS:
            protocol.send("dbt_event", year=year_state["year"], event=msg_to_dict(event))
        if name == "NodeFinished":
            raw = msg_to_dict(event)["data"]
            status = raw.get("run_result", {}).get("status", "")
            unique_id = raw["node_info"]["unique_id"]
            node = manifest.nodes.get(unique_id)
            scheduler.observe_finished(
                raw["node_info"], event.info.thread, node_execution_class(node) if node else None
            )
            year_state["counts"][f"{unique_id.split('.', 1)[0]}:{status}"] += 1
            if status in FAILED_STATUSES:
                # One line: a test's runtime error spans several ("Runtime Error in test...").
                message = " ".join((raw.get("run_result", {}).get("message") or "").split())
                year_state["failures"].append(f"{unique_id} ({status}): {message}")
        if event.info.level == "error":
            year_state["errors"].append(event.info.msg)
        # Passing tests are counted in year_end; one log line each would be ~100 events a year.
        if (name in RESULT_EVENTS and name != "LogTestResult") or event.info.level in (
            "warn",
            "error",
        ):
            protocol.send(
                "log", year=year_state["year"], level=event.info.level, msg=event.info.msg
            )

    runner = dbtRunner(manifest=manifest, callbacks=[on_event])
    # A finished year is published (Parquet copies, publish.py) while the next year builds: one
    # thread, so years are published in order, each on a cursor of its own, which reads the
    # committed year while dbt writes the next. publish_year still lists a year only once all its
    # tables are in place; the worker waits for every publish before it ends.
    publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish")
    publishing: list[Future[None]] = []
    base_args = ["build", *common_args, "--threads", str(request["threads"])]
    if request.get("select"):
        base_args += ["--select", *request["select"]]

    for index, year in enumerate(request["years"]):
        year_state.update(year=year, counts=Counter(), failures=[], errors=[])
        exclude = list(request.get("exclude") or [])
        # Unit tests check model logic on fixed rows, the same in every simulation: they run in
        # development and CI (tests/test_dbt/test_unit_tests.py), as dbt Labs advises for
        # production builds, not in each simulation's first year (which they made about 30%
        # longer: benchmarks/run_cost.py).
        year_args = ["--exclude-resource-type", "unit_test"]
        if index:
            # Seeds do not depend on the year, nor do the models built once per simulation (a
            # rule over their dbt config, selection.py): built and tested in the first year only.
            # "cautious" drops the tests whose every parent is excluded and keeps those that
            # also read a model built every year.
            year_args.append("seed")
            if request.get("later_years_exclude"):
                exclude += request["later_years_exclude"]
                year_args += ["--indirect-selection", "cautious"]
        if exclude:
            year_args += ["--exclude", *exclude]
        protocol.send("year_start", year=year)
        year_started = time.perf_counter()
        _run_year_statements(con.cursor(), request.get("year_started_sql", []), year)
        dbt_vars = {**request["vars"], "simulation_year": year}
        for attempt in (1, 2):
            with scheduler.build(manifest) as timings:
                result = runner.invoke([*base_args, *year_args, "--vars", json.dumps(dbt_vars)])
            texts = [*year_state["failures"], *year_state["errors"], str(result.exception or "")]
            known = None if result.success or attempt == 2 else transient_error(texts)
            if known is None:
                break
            protocol.send("log", year=year, level="warn", msg=(
                f"Year {year}: dbt failed with a known CPython race ({known!r}, "
                "python/cpython#106905), not a fault of the project; building the year again"
            ))  # fmt: skip
            year_state.update(counts=Counter(), failures=[], errors=[])
        elapsed = round(time.perf_counter() - year_started, 3)
        protocol.send(
            "node_timings", year=year, seconds=elapsed, timings=[t.to_message() for t in timings]
        )
        if not result.success:
            _wait_published(publishing, block=True)
            protocol.send(
                "year_end",
                year=year,
                success=False,
                seconds=elapsed,
                counts=dict(year_state["counts"]),
                failures=year_state["failures"],
                error=str(result.exception) if result.exception else None,
            )
            return 1
        _run_year_statements(con.cursor(), request.get("year_completed_sql", []), year)
        summary = _run_summary_queries(con.cursor(), request["summary_queries"], year)
        _wait_published(publishing, block=False)
        publishing.append(publisher.submit(_sync_results, con.cursor(), request, protocol, year))
        row_counts = _row_counts(con.cursor(), request.get("row_counts") or {}, year)
        protocol.send("year_summary", year=year, results=summary, row_counts=row_counts)
        protocol.send(
            "year_end", year=year, success=True, seconds=elapsed, counts=dict(year_state["counts"])
        )
    _wait_published(publishing, block=True)
    publisher.shutdown()
    protocol.send("done", seconds=round(time.perf_counter() - started, 3))
    return 0


def main(argv: list[str]) -> int:
    protocol = Protocol()
    request = json.loads(argv[1])
    ControlChannel(dispatch(CONTROL_HANDLERS)).start()
    if request.get("parent_pid"):
        watch_parent(int(request["parent_pid"]))
    return run(request, protocol)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
