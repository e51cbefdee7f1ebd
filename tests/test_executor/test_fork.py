"""Process mode keeps working in a process forked from one that already ran a process-mode job."""

import json
import multiprocessing
import multiprocessing.forkserver
from pathlib import Path

from dagster import DagsterInstance, instance_for_test

from orch_assets.executor import forkserver
from tests.test_executor import parity_jobs
from tests.test_executor.support import engine_messages, run

PROCESS_MODE = {"mode": "process", "max_concurrent": 1}


def _run_in_forked_child(report: Path) -> None:
    """Runs in the forked child: a process-mode job on a fresh instance, reported as JSON."""
    outcome: dict[str, object] = {"success": False, "messages": []}
    try:
        with instance_for_test() as instance:
            result = run(instance, parity_jobs.small_job, PROCESS_MODE)
            outcome = {
                "success": result.success,
                "messages": engine_messages(instance, result.run_id),
            }
    finally:
        report.write_text(json.dumps(outcome))


def test_a_process_forked_after_a_process_mode_run_starts_its_own_forkserver_and_succeeds(
    executor_instance: DagsterInstance, work_dir: Path
) -> None:
    """Regression: the child failed before any step with ChildProcessError [Errno 10]."""
    assert run(executor_instance, parity_jobs.small_job, PROCESS_MODE).success
    report = work_dir / "child.json"

    child = multiprocessing.get_context("fork").Process(target=_run_in_forked_child, args=(report,))
    child.start()
    child.join(timeout=180)

    assert child.exitcode == 0
    outcome = json.loads(report.read_text())
    assert outcome["success"], outcome["messages"]
    notices = [m for m in outcome["messages"] if "was forked from one that had started" in m]
    assert len(notices) == 1 and "starting a fresh forkserver" in notices[0]
    after = run(executor_instance, parity_jobs.small_job, PROCESS_MODE)
    assert after.success
    assert not [m for m in engine_messages(executor_instance, after.run_id) if "forked" in m]


def test_this_python_keeps_the_forkserver_handle_in_the_fields_process_mode_resets() -> None:
    """Otherwise a forked process falls back to spawn (slower, but still correct)."""
    server = multiprocessing.forkserver._forkserver  # type: ignore[attr-defined]  # noqa: SLF001
    assert all(hasattr(server, name) for name in forkserver._HANDLE_FIELDS)  # noqa: SLF001
