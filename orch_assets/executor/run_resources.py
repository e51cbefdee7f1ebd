"""Thread and sequential mode: the run's resources, shared by its steps, built by the first step
that needs them.

The stock default (multiprocess) executor builds resources in every step process, so a failed
initialisation is that step's failure and the step's ``RetryPolicy`` retries it. The in-process
executor builds them once before the first step, so a failed initialisation fails the run and no
retry policy applies. Thread mode keeps the in-process executor's sharing (one initialisation per
run, which is what makes threads cheap) with the multiprocess executor's failure semantics:

* nothing is built before the first step; a step that needs resources not built yet builds them
  at its start, in its own thread, before its ``STEP_START`` (the ``RESOURCE_INIT_*`` events carry
  its step key, as in a multiprocess step worker);
* when that succeeds, the resources belong to the run: every later step shares them and they are
  torn down once, when the run ends;
* when it fails, that attempt of the step fails with the resource error (``RESOURCE_INIT_FAILURE``
  becomes ``STEP_UP_FOR_RETRY`` or ``STEP_FAILURE`` according to its ``RetryPolicy``), nothing is
  kept, and the next step (or retry) that needs the resources tries again;
* one step builds at a time; a step that needs a resource another step is building waits for it.

A step needs the resources its op, inputs, outputs and hooks require, with their dependencies.
Resources it needs that are already built are handed to the new ones as they are, not rebuilt.

Every step context, type check, input and output context asks the run's builder for the
resources it requires; Dagster's builder makes a new ``namedtuple`` class each time (about 3 ms
of the GIL per step here, for all steps in one process). :class:`SharedClassResourcesBuilder`
makes one class per set of resource keys and a new object of it per request, as before.
"""

import functools
import threading
from collections import namedtuple
from collections.abc import Iterator, Mapping, Set
from typing import Any

from dagster import DagsterUserCodeExecutionError, JobDefinition, ResourceDefinition

from orch_assets.executor._internals import (
    DagsterEvent,
    EventGenerationManager,
    ExecutionPlan,
    ExecutionStep,
    IAttachDifferentObjectToOpContext,
    IContainsGenerator,
    Resources,
    ScopedResourcesBuilder,
    get_required_resource_keys_to_init,
    get_transitive_required_resource_keys,
    resource_initialization_manager,
    single_step_plan,
)


@functools.cache
def _resources_class(keys: tuple[str, ...], contains_generator: bool) -> type:
    """The class Dagster's builder would make for these keys, made once."""
    name = "_ScopedResourcesContainsGenerator" if contains_generator else "_ScopedResources"
    extra: tuple[type, ...] = (IContainsGenerator,) if contains_generator else ()

    class _Built(namedtuple(name, keys), Resources, *extra):  # type: ignore[misc]
        orch_original: Mapping[str, object]

        @property
        def original_resource_dict(self) -> Mapping[str, object]:
            return self.orch_original

    _Built.__name__ = _Built.__qualname__ = name
    return _Built


class SharedClassResourcesBuilder(ScopedResourcesBuilder):
    """``ScopedResourcesBuilder`` whose ``build`` reuses one class per set of resource keys."""

    def build(self, required_resource_keys: Set[str] | None) -> Resources:
        required = required_resource_keys or set()
        original = {
            key: value for key, value in self.resource_instance_dict.items() if key in required
        }
        attached = {
            key: value.get_object_to_set_on_execution_context()
            if isinstance(value, IAttachDifferentObjectToOpContext)
            else value
            for key, value in original.items()
        }
        built = _resources_class(tuple(attached), self.contains_generator)(**attached)
        built.orch_original = original
        return built


class RunResources:
    """The resources of one run, built on first need; see the module docstring."""

    def __init__(self, job_def: JobDefinition) -> None:
        self._job_def = job_def
        self._lock = threading.Lock()
        self._instances: dict[str, object] = {}
        self._managers: list[EventGenerationManager[ScopedResourcesBuilder]] = []
        self._init_args: Mapping[str, Any] = {}

    def manager(self, **init_args: Any) -> EventGenerationManager[ScopedResourcesBuilder]:
        """Dagster's ``scoped_resources_builder_cm`` hook of the run context: builds nothing yet.

        The run context's resources are a view of the shared instances, so step contexts made
        after a step built resources see them.
        """
        self._init_args = init_args
        return EventGenerationManager(self._lifetime(), ScopedResourcesBuilder)

    def _lifetime(self) -> Iterator[DagsterEvent | ScopedResourcesBuilder]:
        yield SharedClassResourcesBuilder(self._instances)
        with self._lock:
            managers, self._managers = self._managers, []
        for manager in reversed(managers):
            yield from manager.generate_teardown_events()

    def prepare(self, plan: ExecutionPlan, step: ExecutionStep) -> Iterator[DagsterEvent]:
        """Build what ``step`` needs and the run does not have yet; yields the resource events.

        A failed initialisation ends with a ``RESOURCE_INIT_FAILURE`` event and builds nothing.
        """
        view = single_step_plan(plan, step)
        needed = get_required_resource_keys_to_init(view, self._job_def)
        with self._lock:
            missing = set(needed) - self._instances.keys()
            if not missing:
                return
            resource_defs: Mapping[str, ResourceDefinition] = self._init_args["resource_defs"]
            keys = get_transitive_required_resource_keys(missing, resource_defs)
            built = {
                key: ResourceDefinition.hardcoded_resource(self._instances[key])
                for key in keys
                if key in self._instances
            }
            manager = resource_initialization_manager(
                **{
                    **self._init_args,
                    "resource_defs": {**resource_defs, **built},
                    "execution_plan": view,
                    "resource_keys_to_init": set(keys),
                }
            )
            try:
                yield from manager.generate_setup_events()
            except DagsterUserCodeExecutionError:
                return
            instances = manager.get_object().resource_instance_dict
            self._instances.update({key: instances[key] for key in keys if key not in built})
            self._managers.append(manager)
