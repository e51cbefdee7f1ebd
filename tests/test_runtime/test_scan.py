"""The sensor's scan: cursor, runs committed late, runs whose tags changed after they ended."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orch_assets.runtime.records import record_runs
from orch_assets.runtime.scan import ScanCursor, finished_runs_to_record
from orch_assets.runtime.store import RuntimeTable
from tests.test_runtime.jobs import run_toy


def test_a_cursor_survives_serialization_and_a_garbled_cursor_starts_over() -> None:
    assert ScanCursor.parse(ScanCursor(1234.5).serialize()) == ScanCursor(1234.5)
    assert ScanCursor.parse("not json") == ScanCursor()
    assert ScanCursor.parse(None) == ScanCursor()


def _ids(records: list[dg.RunRecord]) -> list[str]:
    return [r.dagster_run.run_id for r in records]


def test_the_cursor_moves_past_recorded_runs_in_batches(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    table = RuntimeTable(tmp_path / "runtime.duckdb")
    runs = [run_toy(instance, threads=1, use_random=False) for _ in range(3)]

    first, cursor = finished_runs_to_record(instance, table, ScanCursor(), limit=2)
    record_runs(instance, table, first)
    second, cursor = finished_runs_to_record(instance, table, cursor, limit=2)
    record_runs(instance, table, second)
    third, _ = finished_runs_to_record(instance, table, cursor, limit=2)

    assert _ids(first) == runs[:2]
    assert _ids(second) == runs[2:]
    assert third == []


def test_a_run_missed_just_before_the_cursor_is_still_found(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    table = RuntimeTable(tmp_path / "runtime.duckdb")
    run_id = run_toy(instance, threads=1, use_random=False)
    updated = instance.get_run_record_by_id(run_id).update_timestamp.timestamp()

    pending, _ = finished_runs_to_record(instance, table, ScanCursor(updated + 1.0), limit=10)

    assert _ids(pending) == [run_id]


def test_tags_added_after_a_run_ended_get_it_recorded_again(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    table = RuntimeTable(tmp_path / "runtime.duckdb")
    run_id = run_toy(instance, threads=1, use_random=False)
    pending, cursor = finished_runs_to_record(instance, table, ScanCursor(), limit=10)
    record_runs(instance, table, pending)
    assert finished_runs_to_record(instance, table, cursor, limit=10)[0] == []

    instance.add_run_tags(run_id, {"orch/peak_rss_bytes": "1000"})
    pending, cursor = finished_runs_to_record(instance, table, cursor, limit=10)
    record_runs(instance, table, pending)

    assert _ids(pending) == [run_id]
    assert [r.peak_rss_bytes for r in table.rows()] == [1000]
