"""The example dbt project (examples/shop): parsing it, copies of it, its runs and artifacts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT, SHOP_PROJECT_DIR

SHOP_DIR = SHOP_PROJECT_DIR
BIN = Path(sys.executable).parent
STAGING = ("model.shop.stg_customers", "model.shop.stg_orders", "model.shop.stg_products")
# The lines of dbt_project.yml that declare the marts' class: a copy without them declares none.
CLASS_LINES = ("+meta:", "execution_class:")


def parse(project_dir: Path) -> None:
    subprocess.run(
        [str(BIN / "dbt"), "parse", "--project-dir", str(project_dir), "--profiles-dir",
         str(project_dir), "--quiet"],
        check=True,
    )  # fmt: skip


def copy_without_classes(destination: Path) -> Path:
    """The shop project with no execution class anywhere, parsed."""
    shutil.copytree(SHOP_DIR, destination, ignore=shutil.ignore_patterns("target", "logs"))
    project_yml = destination / "dbt_project.yml"
    lines = project_yml.read_text().splitlines()
    project_yml.write_text(
        "\n".join(line for line in lines if not line.strip().startswith(CLASS_LINES)) + "\n"
    )
    parse(destination)
    return destination


def materialize_cli(
    select: str, config: Mapping[str, Any], env: Mapping[str, str], tmp: Path
) -> subprocess.CompletedProcess[str]:
    """``dagster asset materialize`` of the example code location, as a user runs it."""
    config_file = tmp / "run.yaml"
    config_file.write_text(yaml.safe_dump(dict(config)))
    return subprocess.run(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "examples.shop.definitions",
         "--select", select, "-c", str(config_file)],
        env=dict(env), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def run_results(target_dir: Path) -> dict[str, Any]:
    return json.loads((target_dir / "run_results.json").read_text())


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp()


def execute_intervals(results: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """unique_id -> (start, end) of its ``execute`` phase, from dbt's own run_results.json."""
    intervals = {}
    for result in results["results"]:
        for phase in result["timing"]:
            if phase["name"] == "execute":
                intervals[result["unique_id"]] = (
                    _epoch(phase["started_at"]),
                    _epoch(phase["completed_at"]),
                )
    return intervals


def any_overlap(intervals: Sequence[tuple[float, float]]) -> bool:
    return any(
        a[0] < b[1] and b[0] < a[1] for i, a in enumerate(intervals) for b in intervals[i + 1 :]
    )
