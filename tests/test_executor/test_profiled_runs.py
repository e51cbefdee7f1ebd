"""Thread-mode runs finish under a profile or trace function (cProfile, coverage, debuggers).

CPython 3.10/3.11 leave the interpreter's "async exception pending" flag set after an exception
scheduled in a thread is taken back (orch_assets/executor/async_exc.py); a thread that has a
profile function then loops forever on the next call. The executor took back an exception after
every step, so every thread-mode run hung under cProfile after its steps succeeded. Each case
runs in a fresh interpreter with a deadline: a hang fails the test instead of the test process.
"""

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO_ROOT

DEADLINE_S = 120

SCRIPT = textwrap.dedent(
    """
    import sys
    import dagster as dg
    from tests.test_executor import jobs

    def run(job, run_config):
        with dg.execute_job(dg.reconstructable(job), instance=instance,
                            run_config=run_config) as result:
            return result.success

    with dg.instance_for_test() as instance:
        if sys.argv[1] == "after-a-stopped-step":
            # A step stopped in its own Python code: an exception is scheduled in its thread.
            stopped = run(jobs.timeout_job, {
                "execution": {"config": {"mode": "thread", "step_timeout_s": 1.0}},
                "ops": {"hang": {"config": {"how": "python", "seconds": 8.0}}},
            })
            print("stopped run succeeded:", stopped)
        sys.setprofile(lambda frame, event, arg: None)
        print("profiled run succeeded:", run(jobs.wide_sleep_job,
                                              {"execution": {"config": {"mode": "thread"}}}))
    """
)


@pytest.mark.parametrize("case", ["plain", "after-a-stopped-step"])
def test_a_thread_mode_run_under_a_profile_function_finishes(case: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, case],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "profiled run succeeded: True" in completed.stdout
    if case == "after-a-stopped-step":
        assert "stopped run succeeded: False" in completed.stdout
