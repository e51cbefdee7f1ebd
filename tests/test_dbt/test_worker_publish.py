"""The dbt worker publishes each finished year while the next one builds, every year whole.

Through the real worker on the fixture project of rules_project/ (its ``yearly`` table).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from orch_assets.dbt.publish import PART_FILE, read_published, year_dir
from orch_assets.dbt.runner import WorkerProcess, WorkerRequest
from tests.test_dbt.rules_fixture import copy_rules_project

YEARS = [2025, 2026, 2027]


def test_every_year_is_published_whole_in_order_before_the_worker_ends(tmp_path: Path) -> None:
    project = copy_rules_project(tmp_path / "project")
    results = tmp_path / "results"
    request = WorkerRequest(
        project_dir=project, profiles_dir=project, partial_parse_seed=None,
        database_path=tmp_path / "workforce.duckdb", target_path=tmp_path / "dbt_target",
        log_path=tmp_path / "dbt_logs", years=YEARS, threads=2, vars={},
        publish={"results_dir": str(results), "tables": ["yearly"], "writer": {"run_id": "r"}},
    )  # fmt: skip
    messages: list[dict[str, Any]] = list(WorkerProcess(request).messages())

    kinds = [m["type"] for m in messages]
    published = [m["added"] for m in messages if m["type"] == "published" and m["added"]]
    assert published == [[year] for year in YEARS], "one at a time, in order"
    assert kinds[-1] == "done" and kinds.index("done") > max(
        i for i, kind in enumerate(kinds) if kind == "published"
    ), "the worker waits for its last publish"
    assert read_published(results)["years"] == YEARS
    for year in YEARS:
        part = year_dir(results, "yearly", year) / PART_FILE
        rows = duckdb.execute("select count(*), min(simulation_year) from read_parquet(?)",
                              [str(part)]).fetchone()  # fmt: skip
        assert rows == (1000, year), (year, rows)
