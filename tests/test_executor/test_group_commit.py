"""The group commit's writer: queue order, written-behind events, waiting events, shared classes."""

import logging
import threading
import time

import pytest
from dagster import (
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DagsterUnknownResourceError,
    EventLogEntry,
)

from orch_assets.executor.group_commit import GroupCommit
from orch_assets.executor.run_resources import SharedClassResourcesBuilder
from tests.test_executor.support import entries

RUN_ID = "0f0f0f0f-0000-4000-8000-000000000000"


def message(text: str, step_key: str | None = None) -> EventLogEntry:
    return EventLogEntry(
        error_info=None,
        level=logging.INFO,
        user_message=text,
        run_id=RUN_ID,
        timestamp=time.time(),
        step_key=step_key,
        job_name="job",
    )


def step_skipped(step_key: str) -> EventLogEntry:
    """A step outcome (it waits for storage) that needs no event-specific data."""
    event = DagsterEvent(
        event_type_value=DagsterEventType.STEP_SKIPPED.value,
        job_name="job",
        step_key=step_key,
    )
    entry = message(f"{step_key} skipped", step_key)
    return entry._replace(dagster_event=event)


def stored_messages(instance: DagsterInstance) -> list[str]:
    return [entry.user_message for entry in entries(instance, RUN_ID)]


def test_events_of_many_threads_are_stored_in_each_threads_order_by_the_time_close_returns(
    executor_instance: DagsterInstance,
) -> None:
    group = GroupCommit(executor_instance)

    def log(step: str) -> None:
        for i in range(20):
            group.submit(message(f"{step} {i}", step))

    threads = [threading.Thread(target=log, args=(f"s{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    group.close()
    stored = stored_messages(executor_instance)
    assert len(stored) == 80
    for n in range(4):
        assert [m for m in stored if m.startswith(f"s{n} ")] == [f"s{n} {i}" for i in range(20)]
    assert group.transactions < 80


def test_a_step_outcome_is_stored_with_everything_queued_before_it_when_submit_returns(
    executor_instance: DagsterInstance,
) -> None:
    group = GroupCommit(executor_instance)
    for i in range(5):
        group.submit(message(f"progress {i}", "a"))
    group.submit(step_skipped("a"))
    stored = stored_messages(executor_instance)
    group.close()
    assert stored == [f"progress {i}" for i in range(5)] + ["a skipped"]


def test_events_submitted_after_close_are_written_by_their_own_thread(
    executor_instance: DagsterInstance,
) -> None:
    group = GroupCommit(executor_instance)
    group.close()
    group.submit(message("late"))
    assert stored_messages(executor_instance) == ["late"]


def test_a_failed_call_behind_is_raised_when_the_group_closes(
    executor_instance: DagsterInstance,
) -> None:
    group = GroupCommit(executor_instance)

    def broken() -> None:
        raise ValueError("tags not written")

    group.call_behind(broken)
    group.submit(message("after the call"))
    with pytest.raises(ValueError, match="tags not written"):
        group.close()
    assert stored_messages(executor_instance) == ["after the call"]


def test_resources_for_the_same_keys_share_a_class_but_each_request_gets_its_own_object() -> None:
    db, cache = object(), object()
    builder = SharedClassResourcesBuilder({"db": db, "cache": cache})
    first = builder.build({"db"})
    second = builder.build({"db"})
    both = builder.build({"db", "cache"})
    assert type(first) is type(second) and first is not second
    assert first.db is db and both.cache is cache and type(both) is not type(first)
    assert first.original_resource_dict == {"db": db}
    with pytest.raises(DagsterUnknownResourceError):
        _ = first.cache


def test_an_event_submitted_from_the_writers_own_thread_is_stored_at_once_not_waited_for(
    executor_instance: DagsterInstance,
) -> None:
    """The writer never waits for itself (it would hang for ever), e.g. from a storage call."""
    group = GroupCommit(executor_instance)
    group.submit(message("before"))
    group.call_behind(lambda: group.submit(step_skipped("from_the_writer")))
    group.submit(step_skipped("after"))
    done = threading.Event()
    closer = threading.Thread(target=lambda: (group.close(), done.set()), daemon=True)
    closer.start()

    assert done.wait(timeout=30)
    assert stored_messages(executor_instance) == [
        "before",
        "from_the_writer skipped",
        "after skipped",
    ]
