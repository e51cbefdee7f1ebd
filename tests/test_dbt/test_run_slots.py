"""Run-wide model slots (file locks under the run's directory), without dbt."""

import subprocess
import sys
from pathlib import Path

from orch_assets.dbt.run_slots import TOTAL, RunSlots


def test_a_class_limit_and_the_cap_hold_across_two_holders_of_the_run_directory(
    tmp_path: Path,
) -> None:
    east, west = RunSlots(tmp_path), RunSlots(tmp_path)
    assert east.try_take("parallel_safe", 1, 3)
    assert not west.try_take("parallel_safe", 1, 3)
    assert west.try_take("sequential", 1, 3)
    assert west.try_take(None, None, 3)
    assert not east.try_take(None, None, 3)  # three running in the run: the cap
    assert east.busy() == {TOTAL: 3, "parallel_safe": 1, "sequential": 1, "_none": 1}
    east.give_back("parallel_safe")
    assert west.try_take("parallel_safe", 1, 3)


def test_a_killed_process_frees_the_slots_it_held(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from orch_assets.dbt.run_slots import RunSlots; "
         f"RunSlots({str(tmp_path)!r}).try_take('sequential', 1, None); print('held', flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        here = RunSlots(tmp_path)
        assert not here.try_take("sequential", 1, None)
    finally:
        holder.kill()
        holder.wait()
    assert here.try_take("sequential", 1, None)
