"""Shared fixtures and test groups. The dbt manifest is parsed once per session (by the xdist
controller when tests run in parallel), before any test imports it.

The suite runs on two pytest-xdist workers (``-n 2 --dist loadgroup`` in pyproject.toml). Tests of
one ``xdist_group`` run on one worker, one after another: mark tests that must not overlap each
other (daemons, wall-clock or CPU-load assertions) with ``@pytest.mark.xdist_group("<group>")``,
and add a session or module fixture that is expensive to build to ``FIXTURE_GROUPS`` so that every
test using it runs on the one worker that builds it (each worker builds its own otherwise). A
fixture that tests of different groups need is built once per session under a file lock instead
(:func:`all_scenarios_reference`, pytest-xdist's recipe for session fixtures run once).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from filelock import FileLock

if TYPE_CHECKING:
    from dagster import DagsterInstance

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
# The example project of the gated resource (examples/shop), parsed with the simulation's.
SHOP_PROJECT_DIR = REPO_ROOT / "examples" / "shop" / "dbt_project"


# Expensive session or module fixture -> xdist group of every test that uses it.
FIXTURE_GROUPS = {
    "swept": "runtime_sweep",
    "observed": "readers_during_run",
    "dbt_outcomes": "safe_vars",
    "three_years": "workforce_three_years",
    "launchpad": "launchpad",
    "monitored_workspace": "max_runtime",
    "rules_outcomes": "model_rules",
    "serial_staging": "shop_cli",
    "plain_project": "shop_plain",
    "scaffolded_serial": "shop_component",
    "example_run": "shop_component",
}


def _parse_dbt_project() -> None:
    """dagster-dbt loads target/manifest.json at import: make it (the simulation's and the
    example's) match the dbt sources.

    Runs when this conftest is imported, because pytest imports the conftests of the ``test*``
    folders (which import the definitions) before any ``pytest_configure`` hook. An xdist worker
    skips it: the controller has parsed already.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    dbt = Path(sys.executable).with_name("dbt")
    for project in (DBT_PROJECT_DIR, SHOP_PROJECT_DIR):
        subprocess.run(
            [str(dbt), "parse", "--project-dir", str(project),
             "--profiles-dir", str(project), "--quiet"],
            check=True,
        )  # fmt: skip


_parse_dbt_project()


# Tests that each run whole simulations (tens of seconds apiece), started before the others.
LONG_TESTS_FIRST = ("tests/test_simulation/",)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups the users of each shared session fixture (before xdist reads the groups), and
    moves the long tests to the front.

    pytest-xdist hands out the groups first (largest first), then single tests in this order. With
    the long tests last, as the directories sort, the run ended on one worker finishing a
    simulation test while the other had nothing left; started early, they leave short tests for
    the end, which both workers share.
    """
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        groups = {FIXTURE_GROUPS[name] for name in fixtures if name in FIXTURE_GROUPS}
        if len(groups) == 1 and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(groups.pop()))
    items.sort(key=lambda item: not item.nodeid.startswith(LONG_TESTS_FIRST))


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    import dagster as dg

    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    """A temporary DAGSTER_HOME holding the repository's own dagster.yaml."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return home


@pytest.fixture
def cli_env(dagster_home: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(DAGSTER_HOME=str(dagster_home), ORCH_DATA_DIR=str(tmp_path / "data"))
    return env


@dataclass(frozen=True)
class AllScenariosRun:
    """A finished all_scenarios run: its instance, its data_dir and its run id."""

    instance: DagsterInstance
    data_dir: Path
    run_id: str


@pytest.fixture(scope="session")
def all_scenarios_reference(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[AllScenariosRun]:
    """One thread-mode all_scenarios run (``RUN_SHAPE``, dbt threads 4) for the whole session.

    Read by the all_scenarios tests and by the Dask-mode comparison, which run in different
    groups: the first xdist worker to ask runs it, under a lock in the temporary directory that
    the workers share; the others open its on-disk instance. A run that raised leaves no marker,
    so the next worker runs it again.
    """
    import dagster as dg

    from tests.test_scenarios.helpers import run_all_scenarios

    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    root = shared / "all_scenarios_reference"
    marker = root / "run_id"
    with FileLock(f"{root}.lock"):
        if not marker.exists():
            shutil.rmtree(root, ignore_errors=True)
            (root / "instance").mkdir(parents=True)
            with dg.instance_for_test(temp_dir=str(root / "instance")) as instance:
                result = run_all_scenarios(instance, root / "data", threads=4)
            marker.write_text(result.run_id)
    with dg.instance_for_test(temp_dir=str(root / "instance"), set_dagster_home=False) as instance:
        yield AllScenariosRun(instance, root / "data", marker.read_text())
