"""A writer meeting a reader's DuckDB lock waits for it (bounded) and names the holder."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from orch_assets.dbt.lock import DatabaseLockedError, connect_waiting

HOLD_READ_ONLY = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "workforce.duckdb"
    duckdb.connect(str(path)).close()
    return path


def hold_read_only(database: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding a read-only connection (a notebook), for ``seconds``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_READ_ONLY, str(database), str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


@pytest.fixture
def holder(database: Path) -> Iterator[subprocess.Popen[str]]:
    proc = hold_read_only(database, 2.0)
    yield proc
    proc.kill()
    proc.wait()


def test_a_writer_waits_for_a_reader_to_let_go_and_reports_its_pid(
    database: Path, holder: subprocess.Popen[str]
) -> None:
    waits: list[tuple[int | None, float]] = []
    started = time.monotonic()

    con = connect_waiting(str(database), 30.0, lambda pid, _, waited: waits.append((pid, waited)))
    con.execute("create table written as select 1")
    con.close()

    assert time.monotonic() - started >= 1.0, "it waited for the reader"
    assert waits and waits[0][0] == holder.pid


def test_a_writer_gives_up_after_the_bound_with_one_line_naming_the_holder(
    database: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(DatabaseLockedError) as raised:
        connect_waiting(str(database), 0.5, lambda *_: None)

    message = str(raised.value)
    assert "\n" not in message
    assert f"pid {holder.pid}" in message and "0.5 s" in message
