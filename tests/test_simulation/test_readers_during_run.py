"""Readers while a run writes: a notebook's lock delays the run, readers see whole published years.

One real 2-year run (real Dagster instance, dbt worker, DuckDB) with three observers at once:
a process holding a read-only connection when the run starts (released ~3 s after the run's
worker starts), a thread polling the published Parquet results, and ``orch-assets summary`` run
once the first year is published. The CLI starts in seconds and a small year takes about as
long, so the dbt worker is paused (SIGSTOP, still holding the database) while the CLI reads,
then resumed (SIGCONT): the CLI always meets a run that is writing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import psutil
import pytest

from orch_assets.resources import DATABASE_FILE_NAME
from orch_assets.simulation.publish import read_published
from orch_assets.simulation.readers import read_published_rows
from tests.conftest import REPO_ROOT
from tests.test_simulation.helpers import query, workforce_simulation_job

TABLES = ("fct_workforce_snapshot", "fct_yearly_events", "fct_workforce_summary")
COUNTS_SQL = " union all ".join(
    f"select '{table}' as model, simulation_year, count(*) as n from {table} group by all"
    for table in TABLES
)
# A notebook holding a read-only connection; it lets go when told (a line on stdin).
HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("holding", flush=True)
sys.stdin.readline()
con.close()
"""
HOLD_AFTER_MET_S = 3.0
HOLD_FOREVER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("holding", flush=True)
time.sleep(120)
"""


@dataclass
class Observed:
    holder_pid: int
    database: Path
    run_id: str = ""
    success: bool = False
    logs: list[tuple[int, str, float]] = field(default_factory=list)
    reader_errors: list[str] = field(default_factory=list)
    seen: dict[tuple[str, int], set[int]] = field(default_factory=dict)
    polls_with_years: int = 0
    polls_with_years_during_run: int = 0
    released_at: float | None = None
    cli_output: subprocess.CompletedProcess[str] | None = None


def _poll_once(observed: Observed) -> list[int]:
    """One read of the published results; records what it saw of each year and table."""
    try:
        published = read_published_rows(observed.database, TABLES, COUNTS_SQL)
    except Exception as error:
        observed.reader_errors.append(repr(error))
        return []
    if published.years:
        observed.polls_with_years += 1
    for year in published.years:
        for table in TABLES:
            counts = [
                r["n"]
                for r in published.rows
                if (r["model"], r["simulation_year"]) == (table, year)
            ]
            observed.seen.setdefault((table, year), set()).add(counts[0] if counts else 0)
    return published.years


def _worker_of(database: Path) -> psutil.Process:
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        with contextlib.suppress(psutil.Error):
            if "orch_assets.dbt.worker" in cmdline and proc.cwd() == str(database.parent):
                return proc
    raise AssertionError(f"no dbt worker writes {database}")


def _summary(observed: Observed) -> None:
    """Runs ``orch-assets summary`` while the run's dbt worker is paused holding the database."""
    worker = _worker_of(observed.database)
    worker.suspend()
    try:
        _run_summary(observed)
    finally:
        worker.resume()


def _run_summary(observed: Observed) -> None:
    observed.cli_output = subprocess.run(
        [sys.executable, "-m", "orch_assets.cli", "summary",
         "--data-dir", str(observed.database.parent.parent)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip


def _poll(observed: Observed, stop: threading.Event) -> None:
    """Reads the published results as fast as it can; runs the CLI once a year is published."""
    while not stop.is_set():
        if _poll_once(observed) and observed.cli_output is None:
            _summary(observed)
        time.sleep(0.05)


def _release_when_met(
    instance: dg.DagsterInstance, holder: subprocess.Popen[str], observed: Observed
) -> None:
    """Lets the holder go 3 s after the run has logged that it waits for it."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = instance.get_runs(limit=1)
        logs = instance.all_logs(runs[0].run_id) if runs else []
        if any((e.message or "").startswith("Database held by pid") for e in logs):
            time.sleep(HOLD_AFTER_MET_S)
            break
        time.sleep(0.2)
    observed.released_at = time.time()
    assert holder.stdin is not None
    holder.stdin.write("release\n")
    holder.stdin.flush()


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    data_dir = tmp_path_factory.mktemp("readers")
    database = data_dir / "baseline" / DATABASE_FILE_NAME
    database.parent.mkdir(parents=True)
    duckdb.connect(str(database)).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(database)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    run_config: dict[str, Any] = {
        "n_employees": 1000,
        "start_year": 2025,
        "end_year": 2026,
        "resources": {"simulation_store": {"config": {"data_dir": str(data_dir)}}},
    }
    stop = threading.Event()
    with dg.instance_for_test() as instance:
        observations = Observed(holder_pid=holder.pid, database=database)
        poller = threading.Thread(target=_poll, args=(observations, stop), daemon=True)
        poller.start()
        releaser = threading.Thread(
            target=_release_when_met, args=(instance, holder, observations), daemon=True
        )
        releaser.start()
        try:
            result = dg.execute_job(
                dg.reconstructable(workforce_simulation_job),
                instance=instance,
                run_config=run_config,
            )
        finally:
            stop.set()
            poller.join(timeout=130)
            holder.kill()
            holder.wait()
        observations.polls_with_years_during_run = observations.polls_with_years
        _poll_once(observations)  # what a reader sees once the run has ended
        observations.run_id, observations.success = result.run_id, result.success
        observations.logs = [
            (e.level, e.message, e.timestamp) for e in instance.all_logs(result.run_id)
        ]
        yield observations


def test_the_run_waits_for_a_reader_holding_the_database_and_then_succeeds(
    observed: Observed,
) -> None:
    assert observed.success
    waits = [log for log in observed.logs if log[1].startswith("Database held by pid")]
    assert waits, "the wait is logged"
    level, message, waited_from = waits[0]
    assert level == logging.INFO
    assert message.startswith(f"Database held by pid {observed.holder_pid} "), message
    first_year = next(t for _, m, t in observed.logs if m.startswith("Year 2025 (1/"))
    assert observed.released_at is not None
    assert first_year - waited_from >= HOLD_AFTER_MET_S - 0.5, "the years began only once released"


def test_a_reader_polling_the_results_never_errors_nor_sees_part_of_a_year(
    observed: Observed,
) -> None:
    assert observed.reader_errors == []
    assert observed.polls_with_years_during_run > 0, "the reader saw published years during the run"
    final = {(model, year): n for model, year, n in query(observed.database, COUNTS_SQL)}
    assert {year for _, year in observed.seen} == {2025, 2026}
    for key, counts in observed.seen.items():
        assert counts == {final[key]}, f"{key}: saw {counts}, the database has {final[key]}"
    assert read_published(observed.database.parent / "results")["years"] == [2025, 2026]


def test_summary_during_the_run_prints_the_published_years_and_no_traceback(
    observed: Observed,
) -> None:
    output = observed.cli_output
    assert output is not None
    assert output.returncode == 0, output.stderr
    assert "Traceback" not in output.stdout + output.stderr
    assert f"being written by run {observed.run_id}" in output.stdout
    assert "showing published results up to year 2025" in output.stdout
    assert "\n           2025 " in output.stdout


def test_a_run_fails_in_one_line_naming_the_reader_when_it_holds_the_database_too_long(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    database = tmp_path / "baseline" / DATABASE_FILE_NAME
    database.parent.mkdir(parents=True)
    duckdb.connect(str(database)).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_FOREVER, str(database)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    store = {"data_dir": str(tmp_path), "reader_wait_seconds": 1}
    run_config = {"n_employees": 1000, "start_year": 2025, "end_year": 2025,
                  "resources": {"simulation_store": {"config": store}}}  # fmt: skip
    try:
        result = dg.execute_job(
            dg.reconstructable(workforce_simulation_job),
            instance=instance,
            run_config=run_config,
            raise_on_error=False,
        )
    finally:
        holder.kill()
        holder.wait()

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    description = failure.step_failure_data.user_failure_data.description
    assert description.count("\n") == 0, description
    assert f"pid {holder.pid}" in description and "within 1 s" in description
