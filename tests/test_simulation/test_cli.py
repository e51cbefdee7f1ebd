"""The job from the command line, as the README runs it, on the repository's dagster.yaml."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from orch_assets.cli import main as cli_main
from orch_assets.simulation import database as db
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


@pytest.mark.parametrize(
    ("config", "message"),
    [({"threads": 17}, r"threads must be an integer from 1 to 16 or 'auto', got 17"),
     ({"termination_rates": {"10+' union all select (select content from read_text('/etc/hostname')) || '": 0.05}},
      r"termination_rates has the key .*read_text.*; allowed keys: 0-1, 1-3, 3-5, 5-10, 10\+")],
    ids=["threads", "sql-in-a-band-key"],
)  # fmt: skip
def test_dagster_job_execute_rejects_invalid_config_in_one_line_without_a_traceback(
    cli_env: dict[str, str], tmp_path: Path, config: dict, message: str
) -> None:
    result = _execute(config, cli_env, tmp_path)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "Error" in line]
    assert len(errors) == 1, result.stderr
    assert re.fullmatch(f"Error: Invalid workforce_simulation config: {message}", errors[0])
    assert not (tmp_path / "data").exists()


def test_dagster_job_execute_without_dagster_home_says_runs_are_not_queued_but_locked(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in cli_env.items() if k != "DAGSTER_HOME"}

    # from_year without a stored 2025 fails right after the pool check: no simulation runs.
    result = _execute({"start_year": 2025, "end_year": 2026, "from_year": 2026}, env, tmp_path)

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Runs are not queued by pool duckdb/baseline: it has no limit on this instance" in output
    assert "the database's writer lock still lets one run write it at a time" in output
    assert "continues from the 2025 snapshot" in output


def test_summary_marks_the_years_not_recorded_complete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "baseline" / "workforce.duckdb"
    path.parent.mkdir()
    con = duckdb.connect(str(path))
    db.ensure_tables(con)
    con.execute(
        "create table fct_workforce_summary as "
        "select range as simulation_year, 100 as headcount from range(2025, 2028)"
    )
    db.mark_completed(con, [2025])
    con.close()

    assert cli_main(["summary", "--data-dir", str(tmp_path)]) == 0

    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[-1] for line in lines if line.strip()[:4].isdigit()}
    assert rows == {"2025": "yes", "2026": "NO", "2027": "NO"}
    assert any(line.startswith("Incomplete years 2026, 2027: ") for line in lines)
