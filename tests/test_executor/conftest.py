"""Fixtures for the executor tests: a temporary instance and a work directory for the ops."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, instance_for_test

from tests.test_executor.jobs import WORK_DIR_ENV


@pytest.fixture
def executor_instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as instance:
        yield instance


@pytest.fixture
def work_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where ops leave pids and counters; exported so process-mode children find it too."""
    path = tmp_path / "work"
    path.mkdir()
    monkeypatch.setenv(WORK_DIR_ENV, str(path))
    return path
