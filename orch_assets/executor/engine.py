"""``AdaptiveExecutor``: sets up a run for its mode and hands it to the :class:`Scheduler`."""

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, nullcontext

from dagster import Executor

from orch_assets.executor._internals import (
    DagsterEvent,
    EngineEventData,
    ExecuteRunWithPlanIterable,
    ExecutionPlan,
    PlanExecutionContext,
    PlanExecutionContextManager,
    PlanOrchestrationContext,
    RetryMode,
    StepDependencyConfig,
    create_compute_log_file_key,
    serializable_error_info_from_exc_info,
)
from orch_assets.executor.config import AdaptiveSettings
from orch_assets.executor.container import ContainerProbe, host_cpu_count
from orch_assets.executor.dask_capacity import ClusterCapacityMonitor
from orch_assets.executor.dask_cluster import DaskCluster
from orch_assets.executor.dask_launcher import DaskLauncher
from orch_assets.executor.event_writes import GroupCommit, grouped_event_writes, writes_through
from orch_assets.executor.isolation import IsolatingLauncher
from orch_assets.executor.monitor import CapacityMonitor, limits_notice
from orch_assets.executor.outcomes import run_level_copy
from orch_assets.executor.ownership import current_scope
from orch_assets.executor.process_launcher import ProcessLauncher
from orch_assets.executor.run_instance import orchestrating, run_process_identity
from orch_assets.executor.run_resources import RunResources
from orch_assets.executor.run_tags import (
    CPUS_TAG,
    MAX_CONCURRENT_TAG,
    MODE_TAG,
    RUN_PROCESS_TAG,
    metric_tags,
    write_tags,
)
from orch_assets.executor.scheduler import Context, Scheduler
from orch_assets.executor.stdio import step_prefixed_stdio
from orch_assets.executor.steps import StepTraits
from orch_assets.executor.thread_launcher import ThreadLauncher

PROCESS_START_ALLOWANCE_S = 60.0


def _scope_step_key() -> str | None:
    scope = current_scope()
    return scope.step_key if scope is not None else None


class AdaptiveExecutor(Executor):
    """Runs steps in threads, reused processes or one at a time, under a live psutil cap."""

    def __init__(self, settings: AdaptiveSettings) -> None:
        self._settings = settings

    @property
    def settings(self) -> AdaptiveSettings:
        return self._settings

    @property
    def retries(self) -> RetryMode:
        return self._settings.retries

    @property
    def step_dependency_config(self) -> StepDependencyConfig:
        return self._settings.step_dependency_config

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        """In thread and sequential mode the run's events and tag writes go through a group commit."""
        writes = (
            grouped_event_writes(plan_context.instance)
            if self._settings.mode in ("thread", "sequential")
            else nullcontext(None)
        )
        with (
            orchestrating(plan_context.run_id),
            writes as group,
            writes_through(group, plan_context.log),
        ):
            for event in self._execute(plan_context, execution_plan, group):
                yield run_level_copy(event)

    def _execute(
        self,
        plan_context: PlanOrchestrationContext,
        execution_plan: ExecutionPlan,
        group: GroupCommit | None,
    ) -> Iterator[DagsterEvent]:
        settings = self._settings
        run_id = plan_context.run_id
        container = ContainerProbe()
        cpu = container.cpu_limit(host_cpu_count())
        limits = limits_notice(container, cpu)
        yield DagsterEvent.engine_event(
            plan_context,
            f"Adaptive executor: mode {settings.mode}, max_concurrent {settings.max_concurrent} "
            f"({settings.max_concurrent_source}), run process pid {os.getpid()}. "
            f"{limits.message}",
            EngineEventData(
                metadata={
                    "mode": settings.mode,
                    "max_concurrent": settings.max_concurrent,
                    "class_limits": str(dict(settings.class_limits)),
                    "fail_fast": settings.fail_fast,
                    "step_timeout_s": str(settings.step_timeout_s),
                    **limits.metadata,
                }
            ),
        )
        tags = {
            MODE_TAG: settings.mode,
            MAX_CONCURRENT_TAG: str(settings.max_concurrent),
            CPUS_TAG: str(cpu.cpus),
            RUN_PROCESS_TAG: run_process_identity(),
        }
        write_tags(plan_context, tags, group)
        cluster = DaskCluster.connect(settings) if settings.mode == "dask" else None
        monitor = (
            ClusterCapacityMonitor(settings, run_id, cluster, container)
            if cluster is not None
            else CapacityMonitor(settings, run_id, container)
        )
        traits = StepTraits(
            plan_context.job.get_definition(), settings.class_limits, settings.step_timeout_s
        )
        ended = False

        def end() -> None:
            """Last reading, metric tags; thread mode calls it before tearing down log capture."""
            nonlocal ended
            if not ended:
                ended = True
                monitor.close()
                if cluster is not None:
                    cluster.close()
                write_tags(plan_context, metric_tags(monitor), group)

        try:
            yield from self._report_unknown_classes(plan_context, execution_plan, traits)
            if settings.mode == "process":
                yield from Scheduler(
                    self,
                    plan_context,
                    execution_plan,
                    settings,
                    monitor,
                    traits,
                    lambda _: ProcessLauncher(plan_context, execution_plan, settings),
                    start_allowance_s=PROCESS_START_ALLOWANCE_S,
                ).run()
            elif isinstance(monitor, ClusterCapacityMonitor):
                yield from self._execute_on_dask(plan_context, execution_plan, monitor, traits)
            else:
                yield from self._execute_in_threads(
                    plan_context, execution_plan, monitor, traits, group, end
                )
        finally:
            end()

    def _report_unknown_classes(
        self, context: Context, plan: ExecutionPlan, traits: StepTraits
    ) -> Iterator[DagsterEvent]:
        for step in plan.get_steps_to_execute_in_topo_order():
            traits.execution_class(step)
        if traits.unknown_classes:
            yield DagsterEvent.engine_event(
                context,
                f"Adaptive executor: execution classes {sorted(traits.unknown_classes)} have no "
                "entry in class_limits; their steps are limited only by the live cap.",
                EngineEventData(),
            )

    def _execute_on_dask(
        self,
        plan_context: PlanOrchestrationContext,
        execution_plan: ExecutionPlan,
        monitor: ClusterCapacityMonitor,
        traits: StepTraits,
    ) -> Iterator[DagsterEvent]:
        """Steps run as Dask tasks; the cluster's workers' metrics set the live cap."""
        cluster = monitor.cluster
        yield from Scheduler(
            self,
            plan_context,
            execution_plan,
            self._settings,
            monitor,
            traits,
            lambda _: DaskLauncher(plan_context, execution_plan, self._settings, cluster, monitor),
            start_allowance_s=PROCESS_START_ALLOWANCE_S,
        ).run()

    def _execute_in_threads(
        self,
        plan_context: PlanOrchestrationContext,
        execution_plan: ExecutionPlan,
        monitor: CapacityMonitor,
        traits: StepTraits,
        group: GroupCommit | None,
        end: Callable[[], None],
    ) -> Iterator[DagsterEvent]:
        """Build the run's execution context once (loggers), then schedule threads.

        Resources are shared by the run's steps but built by the first step that needs them
        (``run_resources``), so that a failed initialisation is a step failure a retry policy
        can retry, as with the multiprocess executor. Steps tagged ``orch/isolate: process`` run
        in worker processes instead (``isolation``).
        """
        resources = RunResources(plan_context.job.get_definition())

        def iterator(
            execution_plan: ExecutionPlan, job_context: PlanExecutionContext
        ) -> Iterator[DagsterEvent]:
            with ExitStack() as stack:
                stack.enter_context(writes_through(group, job_context.log))
                yield from self._capture_run_logs(job_context, execution_plan, stack)
                streams = stack.enter_context(step_prefixed_stdio(_scope_step_key))
                yield from Scheduler(
                    self,
                    job_context,
                    execution_plan,
                    self._settings,
                    monitor,
                    traits,
                    lambda running_count: IsolatingLauncher(
                        ThreadLauncher(
                            job_context, execution_plan, resources, streams, running_count
                        ),
                        traits.isolated,
                        lambda threads: ProcessLauncher(
                            plan_context, execution_plan, self._settings, inbox=threads.inbox
                        ),
                    ),
                ).run()
                end()

        yield from ExecuteRunWithPlanIterable(
            execution_plan=plan_context.execution_plan,
            iterator=iterator,
            execution_context_manager=PlanExecutionContextManager(
                job=plan_context.job,
                retry_mode=plan_context.retry_mode,
                execution_plan=plan_context.execution_plan,
                run_config=plan_context.run_config,
                dagster_run=plan_context.dagster_run,
                instance=plan_context.instance,
                raise_on_error=plan_context.raise_on_error,
                output_capture=plan_context.output_capture,
                step_dependency_config=self.step_dependency_config,
                scoped_resources_builder_cm=resources.manager,
            ),
        )

    @staticmethod
    def _capture_run_logs(
        job_context: PlanExecutionContext, execution_plan: ExecutionPlan, stack: ExitStack
    ) -> Iterator[DagsterEvent]:
        """Capture stdout/stderr once for the whole run, as the in-process executor does."""
        manager = job_context.instance.compute_log_manager
        log_key = manager.build_log_key_for_run(job_context.run_id, create_compute_log_file_key())
        step_keys = [step.key for step in execution_plan.get_steps_to_execute_in_topo_order()]
        try:
            log_context = stack.enter_context(manager.capture_logs(log_key))
            yield DagsterEvent.capture_logs(job_context, step_keys, log_key, log_context)
        except Exception:
            yield DagsterEvent.engine_event(
                job_context,
                "Adaptive executor: could not set up compute log capture.",
                EngineEventData(error=serializable_error_info_from_exc_info(sys.exc_info())),
            )
