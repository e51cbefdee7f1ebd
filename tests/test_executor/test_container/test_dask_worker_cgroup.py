"""A Dask worker reports its own cgroup: the worker's container is not the run's."""

import json
import os
import subprocess
import sys

from orch_assets.executor.dask_capacity import decide_cluster_cap
from orch_assets.executor.dask_cluster import TREE_METRIC, reading_from_info
from tests.test_executor.test_container.real_cgroups import REPO, v1_cgroup

SOURCE = "cgroup v1 /kubepods/pod7 (memory.limit_in_bytes)"


def info(rss: float, cgroup_percent: float | None) -> dict[str, object]:
    tree: dict[str, object] = {"rss": rss, "host_memory_percent": 5.0}
    if cgroup_percent is not None:
        tree.update(cgroup_percent=cgroup_percent, cgroup_source=SOURCE)
    return {"metrics": {TREE_METRIC: tree, "cpu": 3.0}, "memory_limit": 16 * 1024**3,
            "nthreads": 2}  # fmt: skip


def test_a_worker_full_in_its_cgroup_is_full_though_dask_sees_headroom() -> None:
    """Dask's memory_limit (16 GiB here) comes from the host or the flag; the pod has less."""
    pod = reading_from_info("tcp://a:1", info(2 * 1024**3, 91.0))
    roomy = reading_from_info("tcp://b:1", info(2 * 1024**3, None))
    assert pod.dask_memory_percent == 12.5 and pod.memory_percent == 91.0
    assert roomy.memory_percent == 12.5
    assert f"91.0% in its {SOURCE}" in pod.describe()

    decision = decide_cluster_cap(8, 80, 70, [pod, roomy], frozenset())
    assert decision.full == frozenset({"tcp://a:1"}) and decision.headroom == ("tcp://b:1",)


def test_the_worker_metric_reads_the_cgroup_of_the_process_it_runs_in() -> None:
    with v1_cgroup("memory", {"memory.limit_in_bytes": str(1024**3)}) as cgroup:
        enter = f"echo $$ > {cgroup / 'cgroup.procs'}"
        code = (
            "import json; from orch_assets.executor.dask_cluster import tree_metric; "
            "print(json.dumps(tree_metric(None)))"
        )
        done = subprocess.run(
            ["sh", "-c", f"{enter}; exec {sys.executable} -c '{code}'"],
            cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
    metric = json.loads(done.stdout)
    assert metric["cgroup_source"].endswith(f"/{cgroup.name} (memory.limit_in_bytes)")
    assert 0 < metric["cgroup_percent"] < 100
