"""The job from the command line, as the README runs it, on the repository's dagster.yaml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO_ROOT

BIN = Path(sys.executable).parent


def _execute(config: dict, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-m", "orch_assets.definitions",
         "-j", "workforce_simulation", "-c", str(config_file)],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_dagster_job_execute_runs_the_simulation_and_summary_shows_each_year(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    result = _execute(
        {"start_year": 2025, "end_year": 2026, "n_employees": 1000}, cli_env, tmp_path
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = subprocess.run(
        [str(BIN / "orch-assets"), "summary"], env=cli_env, capture_output=True, text=True
    )
    assert summary.returncode == 0, summary.stderr
    assert f"Results: {tmp_path / 'data' / 'baseline' / 'workforce.duckdb'}" in summary.stdout
    assert summary.stdout.count("\n           2025 ") == 1
    assert summary.stdout.count("\n           2026 ") == 1


def test_dagster_job_execute_rejects_invalid_threads_before_any_run(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    result = _execute({"threads": 17}, cli_env, tmp_path)

    assert result.returncode != 0
    assert "threads must be an integer from 1 to 16 or 'auto', got 17" in result.stderr
    assert not (tmp_path / "data").exists()
