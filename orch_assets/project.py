"""The one DbtProject of this code location, paths resolved from this file, and its translator."""

from pathlib import Path

from dagster_dbt import DagsterDbtTranslatorSettings, DbtProject

from orch_assets.dbt.translator import ExecutionClassTranslator

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

workforce_dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
workforce_dbt_project.prepare_if_dev()


class WorkforceTranslator(ExecutionClassTranslator):
    """The simulation's assets: class tags, groups by layer, dbt tests not as asset checks (a
    year runs ~100 of them, reported per year in the step's log instead)."""

    def __init__(self) -> None:
        super().__init__(
            DagsterDbtTranslatorSettings(enable_asset_checks=False), group_by_layer=True
        )
