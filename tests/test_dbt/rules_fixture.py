"""The fixture dbt project of rules_project/, with dbt_project's macros and generic tests copied in."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import DBT_PROJECT_DIR

FIXTURE = Path(__file__).parent / "rules_project"


def copy_rules_project(destination: Path) -> Path:
    """``destination``: a copy of the fixture that uses the simulation's own ``model_rules``."""
    shutil.copytree(FIXTURE, destination, ignore=shutil.ignore_patterns("target", "logs"))
    shutil.copytree(DBT_PROJECT_DIR / "macros", destination / "macros")
    shutil.copytree(DBT_PROJECT_DIR / "tests" / "generic", destination / "tests" / "generic")
    return destination
