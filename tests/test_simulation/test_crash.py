"""A run killed mid-year leaves nothing behind that stops the next run.

Real parts: ``dagster job execute`` on the repository's dagster.yaml in a temporary Dagster home,
the real dbt worker, a real SIGKILL of the run process (only that process: the worker lives in a
session of its own, as in production), psutil to find the worker.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import psutil
import yaml

from tests.conftest import REPO_ROOT

BIN = Path(sys.executable).parent
# Killed during 2025 of 2025-2026; the next run simulates 2025 alone (enough to show it runs).
KILLED_RUN = {"start_year": 2025, "end_year": 2026, "n_employees": 1000}
NEXT_RUN = {"start_year": 2025, "end_year": 2025, "n_employees": 1000}


def _command(config_file: Path) -> list[str]:
    return [str(BIN / "dagster"), "job", "execute", "-m", "orch_assets.definitions",
            "-j", "workforce_simulation", "-c", str(config_file)]  # fmt: skip


def _dbt_worker_of(parent_pid: int) -> psutil.Process | None:
    try:
        children = psutil.Process(parent_pid).children()
    except psutil.NoSuchProcess:
        return None
    for child in children:
        try:
            if "orch_assets.dbt.worker" in " ".join(child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def _start_and_kill_mid_year(config_file: Path, env: dict[str, str]) -> psutil.Process:
    """Starts a run, SIGKILLs its process while the worker builds the first year; the worker."""
    run = subprocess.Popen(
        _command(config_file), env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    year_started = threading.Event()
    lines: list[str] = []

    def read() -> None:
        assert run.stderr is not None
        for line in run.stderr:
            lines.append(line)
            if "Year 2025 (1/2)" in line:
                year_started.set()
        year_started.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        year_started.wait(timeout=240)
        assert run.poll() is None, "the run ended before 2025:\n" + "".join(lines[-40:])
        worker = _dbt_worker_of(run.pid)
        assert worker is not None, "no dbt worker under the run process"
        time.sleep(2.0)  # mid-year: dbt is building 2025's models (a year takes 5-20 s here)
        assert worker.is_running() and run.poll() is None, "the run ended before it was killed"
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    return worker


def _gone_within(process: psutil.Process, seconds: float) -> bool:
    try:
        process.wait(timeout=seconds)
    except psutil.TimeoutExpired:
        return False
    except psutil.NoSuchProcess:
        pass
    return True


def test_killing_the_run_process_mid_year_ends_its_worker_and_the_next_run_takes_the_pool(
    cli_env: dict[str, str], dagster_home: Path, tmp_path: Path
) -> None:
    killed_config, next_config = tmp_path / "killed.yaml", tmp_path / "next.yaml"
    killed_config.write_text(yaml.safe_dump(KILLED_RUN))
    next_config.write_text(yaml.safe_dump(NEXT_RUN))

    worker = _start_and_kill_mid_year(killed_config, cli_env)
    try:
        assert _gone_within(worker, 15), f"dbt worker {worker.pid} outlived its run by 15 s"
    finally:
        if worker.is_running():
            worker.kill()

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        (killed,) = instance.get_runs()
        assert killed.status == dg.DagsterRunStatus.STARTED, "the killed run could not end itself"
        claimed = instance.event_log_storage.get_concurrency_info("duckdb/baseline").claimed_slots
        assert [slot.run_id for slot in claimed] == [killed.run_id]

    second = subprocess.run(
        _command(next_config), env=cli_env, cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr[-4000:]

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = {run.run_id: run for run in instance.get_runs()}
        (next_id,) = set(runs) - {killed.run_id}
        records = instance.all_logs(next_id)
        freed = [r for r in records if r.user_message.startswith("Freed pool duckdb/baseline")]
        assert len(freed) == 1, "the next run says which run held the pool and why it was freed"
        assert freed[0].level == logging.INFO
        assert f"held by run {killed.run_id}" in freed[0].user_message
        assert "processes are gone" in freed[0].user_message
        assert "now marked failed" in freed[0].user_message
        assert not [r for r in records if r.user_message.startswith("Waiting for pool")]
        assert runs[killed.run_id].status == dg.DagsterRunStatus.FAILURE
        assert runs[next_id].status == dg.DagsterRunStatus.SUCCESS
        assert not instance.event_log_storage.get_concurrency_info("duckdb/baseline").claimed_slots
