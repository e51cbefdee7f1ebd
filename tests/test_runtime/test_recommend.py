"""The recommendation, on a runtime table written by the test, and ``threads: auto``'s look-up."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from orch_assets.runtime.recommend import (
    find_recommendation,
    recommend,
    recommendation_record,
    recommended_threads,
    this_machine,
)
from orch_assets.runtime.store import DATABASE_NAME, RUNTIME_DIR_NAME, RuntimeTable
from orch_assets.runtime.summary import summarize
from tests.test_runtime.rows import make_row

GIB = 1024**3


def _table(home: Path, rows: list) -> RuntimeTable:
    table = RuntimeTable(home / RUNTIME_DIR_NAME / DATABASE_NAME)
    table.upsert(rows)
    return table


def _sweep(walls: dict[int, list[float]], rss_mib: dict[int, float] | None = None) -> list:
    return [
        make_row(f"t{threads}-{i}", threads, wall, rss_mib=(rss_mib or {}).get(threads))
        for threads, repeats in walls.items()
        for i, wall in enumerate(repeats)
    ]


def _recommended(tmp_path: Path, rows: list, budget_gib: float = 8.0, tolerance: float = 0.05):
    table = _table(tmp_path, rows)
    return recommend(summarize(table.rows()), int(budget_gib * GIB), tolerance)


def test_medians_and_speedup_against_one_thread_come_from_the_table(tmp_path: Path) -> None:
    table = _table(tmp_path, _sweep({1: [10.0, 12.0, 11.0], 2: [6.0, 5.0, 9.0]}))

    one, two = summarize(table.rows())

    assert (one.configuration, one.median_wall_seconds, one.speedup) == ("threads=1", 11.0, 1.0)
    assert (two.median_wall_seconds, two.min_wall_seconds, two.max_wall_seconds) == (6.0, 5.0, 9.0)
    assert two.speedup == pytest.approx(11.0 / 6.0)
    assert two.speedup_per_thread == pytest.approx(11.0 / 12.0)


def test_the_fastest_configuration_wins_when_clearly_faster(tmp_path: Path) -> None:
    rec = _recommended(tmp_path, _sweep({1: [10.0] * 3, 2: [7.0] * 3, 4: [8.0] * 3}))
    assert rec.chosen.dbt_threads == 2


def test_a_tie_within_the_tolerance_goes_to_fewer_threads(tmp_path: Path) -> None:
    rec = _recommended(tmp_path, _sweep({1: [10.0] * 3, 2: [8.1] * 3, 4: [7.9] * 3}))

    assert rec.fastest.dbt_threads == 4
    assert rec.chosen.dbt_threads == 2, "8.1 s is within 5% of 7.9 s"
    assert "uses fewer threads" in rec.reason()


def test_just_outside_the_tolerance_is_not_a_tie(tmp_path: Path) -> None:
    rec = _recommended(tmp_path, _sweep({1: [10.0] * 3, 2: [8.4] * 3, 4: [7.9] * 3}))
    assert rec.chosen.dbt_threads == 4


def test_noisy_repeats_widen_the_tie_to_the_measured_noise(tmp_path: Path) -> None:
    # Repeats spread by +-20 %: 4 threads' 12 % lead is inside the noise.
    rec = _recommended(
        tmp_path, _sweep({1: [7.2, 9.0, 10.8], 2: [8.5, 9.0, 9.5], 4: [6.4, 8.0, 9.6]})
    )

    assert rec.noise == pytest.approx(0.2)
    assert rec.fastest.dbt_threads == 4
    assert rec.chosen.dbt_threads == 1
    assert "measured noise 20%" in rec.reason()


def test_a_configuration_over_the_memory_budget_is_not_recommended(tmp_path: Path) -> None:
    rows = _sweep({1: [10.0] * 3, 2: [7.0] * 3, 4: [5.0] * 3}, rss_mib={1: 500, 2: 900, 4: 3000})

    rec = _recommended(tmp_path, rows, budget_gib=2.0)

    assert rec.chosen.dbt_threads == 2
    assert [s.dbt_threads for s in rec.over_budget] == [4]
    assert _recommended(tmp_path / "none", rows, budget_gib=0.1) is None


def test_failed_runs_do_not_count_towards_the_medians(tmp_path: Path) -> None:
    rows = _sweep({1: [10.0] * 3, 2: [9.0] * 3})
    rows.append(make_row("t2-failed", 2, 1.0, status="failure"))

    summaries = summarize(_table(tmp_path, rows).rows())

    assert [s.n_runs for s in summaries] == [3, 3]
    assert summaries[1].median_wall_seconds == 9.0


def _store_recommendation(
    home: Path, n_employees: int, n_years: int, threads: int, host: str = "this-host"
) -> None:
    table = _table(home, [])
    rec = recommend(summarize(_sweep({threads: [5.0, 5.0]})), 8 * GIB)
    table.save_recommendation(
        recommendation_record(rec, host, n_employees, n_years, source="sweep s1")
    )


@pytest.mark.parametrize(
    ("n_employees", "n_years", "expected"),
    [
        (10_000, 5, 4),
        (12_000, 5, 4),
        (20_000, 5, 4),
        (10_000, 6, 4),
        (100_000, 5, 2),
        (30_000, 5, None),
        (1_000, 5, None),
    ],
    ids=[
        "exact",
        "near",
        "twice",
        "one-more-year",
        "other-exact",
        "between-too-far",
        "ten-times-smaller",
    ],
)
def test_the_nearest_recorded_workload_within_a_factor_of_two_is_used(
    tmp_path: Path, n_employees: int, n_years: int, expected: int | None
) -> None:
    _store_recommendation(tmp_path, 10_000, 5, threads=4)
    _store_recommendation(tmp_path, 100_000, 5, threads=2)

    found = find_recommendation(tmp_path, n_employees, n_years, host="this-host")

    assert (found.dbt_threads if found else None) == expected


def test_a_recommendation_from_another_host_is_not_used(tmp_path: Path) -> None:
    _store_recommendation(tmp_path, 10_000, 5, threads=4)
    assert find_recommendation(tmp_path, 10_000, 5, host="other-host") is None


def test_the_lookup_says_what_it_found(tmp_path: Path) -> None:
    _store_recommendation(tmp_path, 10_000, 5, threads=4)
    found = find_recommendation(tmp_path, 10_000, 5, host="this-host")
    assert "10000 employees x 5 years" in found.describe()
    assert "sweep s1" in found.describe()


def test_without_a_runtime_database_there_is_no_recommendation_and_none_is_created(
    tmp_path: Path,
) -> None:
    assert recommended_threads(tmp_path, 10_000, 5) is None
    assert not (tmp_path / RUNTIME_DIR_NAME).exists()


def test_a_database_busy_in_another_process_gives_no_recommendation_within_seconds(
    tmp_path: Path,
) -> None:
    _store_recommendation(tmp_path, 10_000, 5, threads=4, host=this_machine())
    assert recommended_threads(tmp_path, 10_000, 5) == 4, "found while the file is free"
    path = tmp_path / RUNTIME_DIR_NAME / DATABASE_NAME
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('held', flush=True); time.sleep(8)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        assert recommended_threads(tmp_path, 10_000, 5) is None
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()
