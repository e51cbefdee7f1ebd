"""The fixture dbt project of rules_project/, with dbt_project's macros and generic tests copied in."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import DBT_PROJECT_DIR

FIXTURE = Path(__file__).parent / "rules_project"


def copy_rules_project(destination: Path) -> Path:
    """``destination``: a copy of the fixture that uses the simulation's own ``model_rules``."""
    shutil.copytree(FIXTURE, destination, ignore=shutil.ignore_patterns("target", "logs"))
    shutil.copytree(DBT_PROJECT_DIR / "macros", destination / "macros")
    shutil.copytree(DBT_PROJECT_DIR / "tests" / "generic", destination / "tests" / "generic")
    return destination


def parse_project(project: Path) -> Path:
    """``dbt parse`` of a project (its ``target/manifest.json``), in a subprocess."""
    dbt = Path(sys.executable).with_name("dbt")
    subprocess.run(
        [
            str(dbt),
            "parse",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--quiet",
        ],
        check=True,
    )
    return project
