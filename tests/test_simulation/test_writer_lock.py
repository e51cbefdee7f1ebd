"""One writer per database whatever the instance: two runs without a shared instance both succeed.

Real parts: two `dagster job execute` processes without DAGSTER_HOME (each on its own ephemeral
instance, as a first-time user runs them) on one data dir, the real dbt worker and DuckDB file,
and the kernel's flock. Before the writer lock, the second run's worker took the file in the gap
after the first run's worker exited, and the first run failed in its fingerprint read.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import pytest

from orch_assets.simulation.writer_lock import hold_writer_lock
from tests.conftest import REPO_ROOT
from tests.test_simulation.helpers import database, workforce_simulation_job

SHAPE = ("-c", "n_employees: 300\nstart_year: 2025\nend_year: 2026\nthreads: 1\n")
FINGERPRINT = re.compile(r"Simulation fingerprint ([0-9a-f]{64})")


class _Run:
    """A `dagster job execute` whose merged output is read line by line as it comes."""

    def __init__(self, env: dict[str, str], config: Path) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m",
             "orch_assets.definitions", "-j", "workforce_simulation", "-c", str(config)],
            env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def saw(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def finish(self) -> str:
        self.process.wait(timeout=600)
        self._reader.join(timeout=10)
        return "".join(self.lines)


@pytest.mark.timeout(600)
def test_two_runs_on_ephemeral_instances_write_one_database_one_after_the_other(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "DAGSTER_HOME"))}
    env["ORCH_DATA_DIR"] = str(tmp_path / "data")
    config = tmp_path / "run.yaml"
    config.write_text(SHAPE[1])
    # Started together: whichever takes the writer lock first writes, the other waits for it
    # (each run lasts seconds after it takes the lock, its start-up costs the same as the other's).
    runs = [_Run(env, config), _Run(env, config)]
    outputs = [run.finish() for run in runs]

    assert [run.process.returncode for run in runs] == [0, 0], outputs[1][-3000:]
    for output in outputs:
        assert "RUN_SUCCESS" in output and "Could not set lock" not in output
    fingerprints = [FINGERPRINT.findall(output) for output in outputs]
    assert len(fingerprints[0]) == 1 and fingerprints[0] == fingerprints[1]
    waited = [[line for line in run.lines if "it is being written by run" in line] for run in runs]
    assert sorted(map(bool, waited)) == [False, True], "one run waited for the other, once"
    second = 0 if waited[0] else 1
    first = 1 - second
    first_run_id = re.findall(
        r"being written by run ([0-9a-f-]{36}), a writer \(pid (\d+)", waited[second][0]
    )
    assert first_run_id and first_run_id[0][0] in outputs[first], "names the first run"
    assert int(first_run_id[0][1]) == runs[first].process.pid, "names the first run's process"
    assert "Writer lock on" in outputs[second] and "taken after" in outputs[second]


def test_a_writer_that_waits_too_long_fails_in_one_line_with_nothing_written(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    with hold_writer_lock(database(data_dir), "the-other-run", 5.0, print):
        result = dg.execute_job(
            dg.reconstructable(workforce_simulation_job), instance=instance,
            run_config={
                "n_employees": 300, "start_year": 2025, "end_year": 2025,
                "resources": {"simulation_store": {"config": {
                    "data_dir": str(data_dir), "writer_wait_seconds": 1}}},
            },
        )  # fmt: skip

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    first_line = failure.step_failure_data.error.message.splitlines()[0]
    assert "is being written by run the-other-run, a writer (pid " in first_line
    assert "did not finish within 1 s (simulation_store.writer_wait_seconds)" in first_line
    assert "nothing was written" in first_line
    assert not database(data_dir).exists()
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("it is being written by run the-other-run" in m for m in logs)
