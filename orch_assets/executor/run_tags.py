"""The run tags the adaptive executor writes: settings at the start, metrics at the end."""

from orch_assets.executor._internals import PlanOrchestrationContext
from orch_assets.executor.group_commit import GroupCommit
from orch_assets.executor.monitor import CapacityMonitor

MODE_TAG = "orch/mode"
MAX_CONCURRENT_TAG = "orch/max_concurrent"
PEAK_RSS_TAG = "orch/peak_rss_bytes"
MEAN_CPU_TAG = "orch/mean_cpu_percent"
PEAK_CONCURRENCY_TAG = "orch/peak_concurrency"
# The CPUs the run process may use (host, cgroup CPU quota, affinity: the tightest).
CPUS_TAG = "orch/cpus"
RUN_PROCESS_TAG = "orch/run_process"
"""The run's process, ``host:pid:start time`` (``run_instance.run_process_identity``), written at the start
of every run, so that a run whose process died (``os._exit`` or a segfault in a thread-mode
step, SIGKILL, the OOM killer) can be found and ended (the project's sensor ``orch_dead_runs``
marks it failed; the daemon then frees its pool slots)."""


def metric_tags(monitor: CapacityMonitor) -> dict[str, str]:
    metrics = monitor.metrics
    tags = {PEAK_CONCURRENCY_TAG: str(metrics.peak_concurrency)}
    if metrics.peak_rss_bytes:
        tags[PEAK_RSS_TAG] = str(metrics.peak_rss_bytes)
    mean_cpu = metrics.mean_cpu_percent()
    if mean_cpu is not None:
        tags[MEAN_CPU_TAG] = f"{mean_cpu:.1f}"
    return tags


def write_tags(
    context: PlanOrchestrationContext, tags: dict[str, str], group: GroupCommit | None
) -> None:
    """Written by the group's writer when there is one (in order, off the run's critical path)."""
    instance, run_id = context.instance, context.run_id
    if group is None:
        instance.add_run_tags(run_id, tags)
    else:
        group.call_behind(lambda: instance.add_run_tags(run_id, tags))
