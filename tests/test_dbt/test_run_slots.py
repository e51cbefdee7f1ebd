"""Run-wide model slots (file locks under the run's directory), without dbt."""

import os
import subprocess
import sys
import time
from pathlib import Path

from orch_assets.dbt.run_slots import TOTAL, RunSlots, prune_stale


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


def test_old_run_directories_nobody_holds_are_pruned_and_a_held_or_recent_one_is_kept(
    tmp_path: Path,
) -> None:
    old, held, recent = (RunSlots(tmp_path / name) for name in ("old", "held", "recent"))
    assert old.try_take("sequential", 1, None) and held.try_take("sequential", 1, None)
    old.give_back("sequential")
    day_ago = time.time() - 2 * 24 * 3600
    for directory in (old.directory, held.directory):
        for path in (directory, *directory.iterdir()):
            os.utime(path, (day_ago, day_ago))
    recent.try_take(None, None, 1)

    assert prune_stale(tmp_path) == [old.directory]
    assert held.directory.exists() and recent.directory.exists()
    held.give_back("sequential")
    assert prune_stale(tmp_path) == [held.directory]
