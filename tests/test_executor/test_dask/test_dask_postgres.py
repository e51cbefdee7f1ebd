"""The multi-machine deployment shape once: a PostgreSQL instance (dagster-postgres) and Dask.

A throwaway PostgreSQL cluster (Debian's ``postgresql`` package: initdb/pg_ctl) is started on
127.0.0.1 in a temporary directory, as the ``postgres`` user when the tests run as root. Outside
CI a machine without PostgreSQL skips this test; under ``CI=true`` it fails instead.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.test_executor.support import run
from tests.test_executor.test_dask import dask_jobs
from tests.test_executor.test_dask.test_dask_mode import dask_config, workers_of_steps

# One local cluster (a session fixture) for every dask test: they run on one xdist worker.
pytestmark = pytest.mark.xdist_group("dask")

PG_USER = "orch"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    if not owner:
        return command
    # runuser is in /usr/sbin, which a root shell's PATH does not always hold.
    runuser = shutil.which("runuser", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if runuser is None:
        pytest.fail("runuser (util-linux) is needed to start PostgreSQL as its own user")
    return [runuser, "-u", owner, "--", *command]


@pytest.fixture(scope="module")
def postgres_port() -> Iterator[int]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        reason = "PostgreSQL is not installed (apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; .ci/run installs it")
        pytest.skip(reason)
    owner = "postgres" if os.geteuid() == 0 else None
    # Not under pytest's tmp_path: its parent is private to the test user, not readable by
    # the postgres user.
    root = Path(tempfile.mkdtemp(prefix="orch-pg-"))
    data = root / "data"
    data.mkdir()
    if owner:
        shutil.chown(root, owner)
        shutil.chown(data, owner)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust", "-E", "UTF8"]
    subprocess.run(_as_owner(initdb, owner), check=True, capture_output=True)
    pg_ctl = str(bin_dir / "pg_ctl")
    options = f"-h 127.0.0.1 -p {port} -k {data}"
    start = [pg_ctl, "-D", str(data), "-o", options, "-l", str(data / "server.log"), "-w", "start"]
    subprocess.run(_as_owner(start, owner), check=True, capture_output=True)
    try:
        yield port
    finally:
        stop = [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]
        subprocess.run(_as_owner(stop, owner), check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_a_postgres_instance_records_a_dask_run_whose_workers_never_open_it(
    postgres_port: int, dask_address: str
) -> None:
    pytest.importorskip("dagster_postgres", reason="needs dagster-postgres (the dev extra)")
    postgres_db = {
        "username": PG_USER,
        "password": "",
        "hostname": "127.0.0.1",
        "db_name": "postgres",
        "port": postgres_port,
        # SQLAlchemy 2.1 maps plain "postgresql" to psycopg 3; dagster-postgres ships psycopg2.
        "scheme": "postgresql+psycopg2",
    }
    with dg.instance_for_test(
        overrides={"storage": {"postgres": {"postgres_db": postgres_db}}}
    ) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = run(
            instance, dask_jobs.three_naps_job, dask_config(dask_address, max_concurrent=3)
        )

        assert result.success
        placed = workers_of_steps(instance, result.run_id)
        assert set(placed) == {"short_nap_0", "short_nap_1", "short_nap_2"}
        successes = instance.get_records_for_run(
            result.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS
        ).records
        assert len(successes) == 3
        assert instance.get_run_by_id(result.run_id).tags["orch/mode"] == "dask"  # type: ignore[union-attr]
