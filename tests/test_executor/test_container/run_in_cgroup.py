"""Run one job of ``container_jobs`` with ``execute_job``; the caller placed this process in
its cgroups (``sh -c 'echo $$ > .../cgroup.procs; exec python -m ...'``), so everything it
imports and allocates is charged there. Prints the run id; the instance is ``DAGSTER_HOME``.

Usage: ``python -m tests.test_executor.test_container.run_in_cgroup JOB EXECUTOR_CONFIG_JSON``
"""

import json
import sys

from dagster import DagsterInstance, execute_job, reconstructable

from tests.test_executor.test_container import container_jobs


def main() -> None:
    job_name, executor_config = sys.argv[1], json.loads(sys.argv[2])
    with DagsterInstance.get() as instance:
        result = execute_job(
            reconstructable(getattr(container_jobs, job_name)),
            instance=instance,
            run_config={"execution": {"config": executor_config}},
        )
        print(json.dumps({"run_id": result.run_id, "success": result.success}), flush=True)


if __name__ == "__main__":
    main()
