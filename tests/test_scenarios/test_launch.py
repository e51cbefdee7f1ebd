"""A bad run option of the multi-scenario job fails at launch: no run, nothing written."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from tests.test_scenarios.helpers import run_all_scenarios


@pytest.mark.parametrize(
    ("option", "message"),
    [({"n_employees": 0}, r"n_employees must be between 1 and 10000000"),
     ({"end_year": 2020}, r"end_year must be between 2025 and 2074"),
     ({"threads": 17}, r"threads must be an integer from 1 to 16 or 'auto'")],
    ids=["no-employees", "end-before-start", "too-many-threads"],
)  # fmt: skip
def test_an_invalid_run_option_is_rejected_at_launch_naming_the_field_and_rule(
    instance: dg.DagsterInstance, tmp_path: Path, option: dict, message: str
) -> None:
    with pytest.raises(Exception, match=rf"Invalid all_scenarios config: .*{message}"):
        run_all_scenarios(instance, tmp_path, **option)

    assert instance.get_runs() == [], "no run is created"
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
