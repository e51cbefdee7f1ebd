"""Breaks if the Dagster internals the executor relies on change (dagster is pinned <1.14)."""

import importlib
import inspect
from collections.abc import Callable

import dagster
import pytest

from orch_assets.executor import _internals


def parameters(function: Callable[..., object]) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_pinned_dagster_minor_version_is_the_one_these_internals_were_written_for() -> None:
    assert dagster.__version__.startswith("1.13."), dagster.__version__


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (
            _internals.ActiveExecution.__init__,
            [
                "self",
                "execution_plan",
                "retry_mode",
                "sort_key_fn",
                "max_concurrent",
                "tag_concurrency_limits",
                "instance_concurrency_context",
                "step_dependency_config",
            ],
        ),
        (_internals.ActiveExecution.get_steps_to_execute, ["self", "limit"]),
        (_internals.ActiveExecution.handle_event, ["self", "dagster_event"]),
        (_internals.ActiveExecution.verify_complete, ["self", "job_context", "step_key"]),
        (_internals.ActiveExecution.plan_events_iterator, ["self", "job_context"]),
        (_internals.ActiveExecution.concurrency_event_iterator, ["self", "plan_context"]),
        (_internals.dagster_event_sequence_for_step, ["step_context", "force_local_execution"]),
        (_internals.trigger_hooks, ["step_context", "step_event_list"]),
        (
            _internals.PlanExecutionContextManager.__init__,
            [
                "self",
                "job",
                "execution_plan",
                "run_config",
                "dagster_run",
                "instance",
                "retry_mode",
                "scoped_resources_builder_cm",
                "raise_on_error",
                "output_capture",
                "step_dependency_config",
            ],
        ),
        (
            _internals.ExecuteRunWithPlanIterable.__init__,
            ["self", "execution_plan", "iterator", "execution_context_manager"],
        ),
        (
            _internals.execute_plan_iterator,
            [
                "execution_plan",
                "job",
                "dagster_run",
                "instance",
                "retry_mode",
                "run_config",
                "step_dependency_config",
            ],
        ),
        (_internals.create_context_free_log_manager, ["instance", "dagster_run"]),
        (
            _internals.resource_initialization_manager,
            [
                "resource_defs",
                "resource_configs",
                "log_manager",
                "execution_plan",
                "dagster_run",
                "resource_keys_to_init",
                "instance",
                "emit_persistent_events",
                "event_loop",
            ],
        ),
        (_internals.get_required_resource_keys_to_init, ["execution_plan", "job_def"]),
        (
            _internals.get_transitive_required_resource_keys,
            ["required_resource_keys", "resource_defs"],
        ),
        (
            _internals.EventGenerationManager.__init__,
            ["self", "generator", "object_cls", "require_object"],
        ),
        (_internals.PlanExecutionContext.for_step, ["self", "step", "known_state"]),
        (_internals.DagsterLogHandler.__init__, ["self", "metadata", "loggers", "handlers"]),
        (_internals.DagsterLogHandler.with_tags, ["self", "new_tags"]),
    ],
    ids=lambda value: getattr(value, "__qualname__", None) or "",
)
def test_internal_signatures_are_unchanged(
    function: Callable[..., object], expected: list[str]
) -> None:
    assert parameters(function) == expected


def test_active_execution_keeps_the_private_state_the_class_gate_edits() -> None:
    source = inspect.getsource(_internals.ActiveExecution)
    assert "self._executable: list[str] = []" in source
    assert "def _update(self) -> None:" in source
    assert "for key in self._executable" in source


def test_step_contexts_keep_their_event_loop_in_the_attribute_thread_mode_replaces() -> None:
    assert issubclass(_internals.StepExecutionContext, _internals.PlanExecutionContext)
    source = inspect.getsource(_internals.PlanExecutionContext)
    assert "self._event_loop = event_loop" in source
    assert "return self._event_loop" in source


def test_dagster_log_handlers_still_ignore_added_filters() -> None:
    """Thread mode wraps ``filter`` on the handler instance because of this override."""
    from dagster._core.log_manager import DagsterLogHandler

    assert "filter" in DagsterLogHandler.__dict__
    assert "super().filter" not in inspect.getsource(DagsterLogHandler.filter)


def test_execution_plans_keep_the_fields_single_step_plan_replaces() -> None:
    fields = _internals.ExecutionPlan._fields
    assert {"step_dict", "step_dict_by_key", "step_handles_to_execute"} <= set(fields)
    source = inspect.getsource(_internals.ExecutionPlan.step_handle_for_single_step_plans)
    assert "len(self.step_handles_to_execute) == 1" in source


def test_run_contexts_take_resources_from_the_builder_hook_thread_mode_passes() -> None:
    from dagster._core.execution import context_creation_job

    source = inspect.getsource(context_creation_job.execution_context_event_generator)
    assert "resource_defs=resource_defs" in source
    assert "resource_keys_to_init=" in source
    assert "event_loop=event_loop" in source


def test_instances_keep_the_compute_log_manager_in_the_attribute_dask_mode_replaces() -> None:
    source = inspect.getsource(dagster.DagsterInstance.compute_log_manager.fget)  # type: ignore[arg-type]
    assert "if not self._compute_log_manager:" in source
    assert "return self._compute_log_manager" in source


def test_sqlite_store_event_writes_plain_step_events_as_one_run_shard_row() -> None:
    """``store_step_events`` inserts such events itself, many per transaction."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    source = inspect.getsource(SqliteEventLogStorage.store_event)
    assert "insert_event_statement = self.prepare_insert_event(event)" in source
    assert "with self.run_connection(run_id) as conn:" in source
    special = set(source.split("dagster_event_type in ")[1:])
    assert {s.split(":")[0] for s in special} == {
        "ASSET_EVENTS",
        "ASSET_CHECK_EVENTS",
        "EVENT_TYPE_TO_PIPELINE_RUN_STATUS",
    }
    assert not _internals.STEP_EVENT_TYPES & (
        _internals.ASSET_EVENTS
        | _internals.ASSET_CHECK_EVENTS
        | set(_internals.EVENT_TYPE_TO_PIPELINE_RUN_STATUS)
    )
    from dagster._core.events import PIPELINE_EVENTS

    assert "return self.event_type in PIPELINE_EVENTS" in inspect.getsource(
        _internals.DagsterEvent.is_job_event.fget  # type: ignore[attr-defined]
    )
    assert not _internals.STEP_EVENT_TYPES & PIPELINE_EVENTS


def test_dagsters_batch_insert_has_the_rows_of_its_single_event_insert() -> None:
    """``store_step_events`` uses the batch statement for the rows ``store_event`` would add."""
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

    single = inspect.getsource(SqlEventLogStorage.prepare_insert_event)
    batch = inspect.getsource(SqlEventLogStorage.prepare_insert_event_batch)
    assert "SqlEventLogStorageTable.insert().values(**self._event_to_row(event))" in single
    assert "[self._event_to_row(event) for event in events]" in batch


def test_handle_new_event_does_nothing_else_for_plain_step_events_without_subscribers() -> None:
    source = inspect.getsource(_internals.DagsterInstance.handle_new_event)
    assert "and event.get_dagster_event().is_job_event" in source
    assert "for sub in self._subscribers_impl[run_id]:" in source
    assert "is_asset_failed_to_materialize" in inspect.getsource(
        _internals.DagsterInstance.should_store_event
    )
    with dagster.instance_for_test() as instance:
        assert isinstance(instance._subscribers, dict)  # noqa: SLF001


def test_step_log_managers_share_the_run_handler_list_that_grouped_writes_edit() -> None:
    from dagster._core.log_manager import DagsterLogHandler

    assert "self._handlers = handlers" in inspect.getsource(DagsterLogHandler.__init__)
    assert "handlers=self._handlers" in inspect.getsource(DagsterLogHandler.with_tags)
    emit = inspect.getsource(_internals.EventListenerLogHandler.emit)
    assert "self._instance.handle_new_event(" in emit
    assert 'batch_metadata=record_metadata["dagster_event_batch_metadata"]' in emit
    with dagster.instance_for_test() as instance:
        log_manager = _internals.create_context_free_log_manager(
            instance, dagster.DagsterRun(job_name="j")
        )
        handlers = _internals.event_log_handlers(log_manager)
        assert any(type(h) is _internals.EventListenerLogHandler for h in handlers)


def test_a_run_log_handler_swapped_in_is_inherited_by_tagged_log_managers() -> None:
    """Thread mode's ``RunLogHandler`` reaches step contexts through ``with_tags`` (issue 28)."""
    from orch_assets.executor.run_log_handler import RunLogHandler, run_log_handler

    assert "self._dagster_handler.with_tags(" in inspect.getsource(
        _internals.DagsterLogManager.with_tags
    )
    with dagster.instance_for_test() as instance:
        log_manager = _internals.create_context_free_log_manager(
            instance, dagster.DagsterRun(job_name="j")
        )
        original = _internals.dagster_log_handler(log_manager)
        with run_log_handler(log_manager):
            step_log = log_manager.with_tags(step_key="s")
            handler = _internals.dagster_log_handler(step_log)
            assert type(handler) is RunLogHandler
            assert handler.metadata["step_key"] == "s"
            assert step_log.handlers == [handler]
            assert _internals.event_log_handlers(step_log) is _internals.event_log_handlers(
                log_manager
            )
        assert _internals.dagster_log_handler(log_manager) is original
        assert log_manager.handlers == [original]


def test_dagster_builds_step_resources_as_shared_class_builder_rebuilds_them() -> None:
    """``SharedClassResourcesBuilder.build`` mirrors this method with one class per key set."""
    source = inspect.getsource(_internals.ScopedResourcesBuilder.build)
    assert "get_object_to_set_on_execution_context()" in source
    assert "if self.contains_generator:" in source
    assert "IContainsGenerator" in source
    assert "def original_resource_dict" in source
    assert "raise DagsterUnknownResourceError(name)" in inspect.getsource(_internals.Resources)


def test_the_module_the_forkservers_preload_is_dagsters_execution_api() -> None:
    """A renamed module would only make the forkservers' preload miss, silently: check it here."""
    module = importlib.import_module(_internals.EXECUTION_API_MODULE)
    assert module.execute_plan_iterator is _internals.execute_plan_iterator
    assert module.ExecuteRunWithPlanIterable is _internals.ExecuteRunWithPlanIterable
