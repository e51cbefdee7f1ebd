"""Real v1 cgroups for tests: created under this process's own cgroup, removed after.

Skips (never fails) where the machine does not allow it: not root, no v1 controller, or a
cgroupfs that is not writable. On this project's machines and CI (root, v1 memory and cpu
controllers writable) the tests run.
"""

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from orch_assets.executor.cgroups import locate_self

REPO = Path(__file__).resolve().parents[3]


@contextmanager
def v1_cgroup(controller: str, settings: Mapping[str, str]) -> Iterator[Path]:
    """A child cgroup of this process's ``controller`` cgroup with ``settings`` written."""
    if os.geteuid() != 0:
        pytest.skip("creating cgroups needs root")
    try:
        layout = locate_self()
    except OSError as error:
        pytest.skip(f"no /proc/self/cgroup: {error}")
    found = layout.memory if controller == "memory" else layout.cpu
    if found is None or found.version != 1:
        pytest.skip(f"no cgroup v1 {controller} controller here")
    path = found.directory / f"orch_test_{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir()
    except OSError as error:
        pytest.skip(f"cgroupfs not writable: {error}")
    try:
        for name, value in settings.items():
            (path / name).write_text(value)
        yield path
    finally:
        _remove(path)


def _remove(path: Path) -> None:
    """Move anything left to the parent, then remove the (empty) cgroup."""
    for _ in range(50):
        for pid in (path / "cgroup.procs").read_text().split():
            try:
                (path.parent / "cgroup.procs").write_text(pid)
            except OSError:
                continue
        try:
            path.rmdir()
            return
        except OSError:
            time.sleep(0.1)
    path.rmdir()


def run_job_in(
    cgroups: list[Path], home: Path, job: str, executor_config: Mapping[str, Any]
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    """``run_in_cgroup`` in a shell that first writes its own pid to each cgroup, then execs."""
    enter = "; ".join(f"echo $$ > {shlex.quote(str(c / 'cgroup.procs'))}" for c in cgroups)
    command = shlex.join(
        [sys.executable, "-m", "tests.test_executor.test_container.run_in_cgroup", job,
         json.dumps(dict(executor_config))]
    )  # fmt: skip
    done = subprocess.run(
        ["sh", "-c", f"{enter}; exec {command}"],
        cwd=REPO,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"run_id"')]
    return done, json.loads(lines[-1]) if lines else None
