"""The runtime table: upsert by run id, and waiting out another process's lock."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import duckdb

from orch_assets.runtime.store import COLUMNS, RuntimeRow, RuntimeTable
from tests.test_runtime.rows import make_row


def test_upserting_a_run_again_replaces_its_row(tmp_path: Path) -> None:
    table = RuntimeTable(tmp_path / "runtime.duckdb")
    first = make_row("run-1", threads=1, wall=10.0)

    table.upsert([first, make_row("run-2", threads=2, wall=8.0)])
    table.upsert([replace(first, wall_seconds=11.0, fingerprint="g" * 64)])

    rows = {r.run_id: r for r in table.rows()}
    assert table.count() == 2
    assert rows["run-1"].wall_seconds == 11.0
    assert rows["run-1"].fingerprint == "g" * 64


def test_the_table_has_one_column_per_row_field_in_order(tmp_path: Path) -> None:
    table = RuntimeTable(tmp_path / "runtime.duckdb")
    with table.connect() as con:
        columns = [d[0] for d in con.execute("select * from runs limit 0").description]
    assert tuple(columns) == COLUMNS == tuple(f.name for f in fields(RuntimeRow))


def test_a_file_from_an_older_schema_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "runtime.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table runs (run_id varchar primary key, job_name varchar not null)")
    con.execute("insert into runs values ('old-run', 'old_job')")
    con.close()

    table = RuntimeTable(path)
    table.upsert([make_row("new-run", threads=1, wall=1.0)])

    assert {r.run_id: r.job_name for r in table.rows()} == {
        "old-run": "old_job",
        "new-run": "workforce_simulation",
    }


def test_a_writer_waits_for_another_process_to_release_the_file(tmp_path: Path) -> None:
    path = tmp_path / "runtime.duckdb"
    RuntimeTable(path).upsert([make_row("run-0", threads=1, wall=1.0)])
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('held', flush=True); "
         "time.sleep(1.5); c.close()"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    try:
        duckdb.connect(str(path)).close()
        raise AssertionError("the other process should hold the lock")
    except duckdb.IOException:
        pass

    started = time.monotonic()
    RuntimeTable(path, lock_retry_seconds=20).upsert([make_row("run-1", threads=2, wall=2.0)])

    holder.wait(timeout=10)
    assert time.monotonic() - started >= 0.5, "it waited for the lock"
    assert RuntimeTable(path).count() == 2
