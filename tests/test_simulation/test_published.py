"""The published tables come from the dbt project's layout, not from a list in Python."""

from __future__ import annotations

import json

from orch_assets.project import workforce_dbt_project
from orch_assets.simulation.published import published_tables


def test_the_published_tables_are_the_models_of_the_marts_layer() -> None:
    manifest = json.loads(workforce_dbt_project.manifest_path.read_text())

    assert published_tables(manifest) == [
        "fct_workforce_snapshot",
        "fct_workforce_summary",
        "fct_yearly_events",
    ]
    assert published_tables(manifest, layer="staging")[0].startswith("stg_")
