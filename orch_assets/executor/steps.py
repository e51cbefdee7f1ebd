"""What the executor reads from a step's tags: execution class, timeout, isolation.

A tag is looked up on the step (op tags, which dagster-dbt multi-asset steps carry) and, when the
op has none, on the assets the step materializes (``@asset(tags=...)`` tags are asset tags, not
op tags). When the assets of one step disagree, the most restrictive value wins: the class with
the smallest limit, the shortest timeout.
"""

from collections import Counter
from collections.abc import Collection, Mapping, Sequence

from dagster import JobDefinition

from orch_assets.executor._internals import ExecutionStep, NodeHandle

CLASS_TAG = "orch/execution_class"
TIMEOUT_TAG = "orch/step_timeout_s"
ISOLATE_TAG = "orch/isolate"
"""``orch/isolate: process`` runs the step in a child process in thread and sequential mode."""
ISOLATE_PROCESS = "process"
DEFAULT_CLASS = "parallel_safe"


def _asset_tag_values(step: ExecutionStep, job_def: JobDefinition | None, tag: str) -> list[str]:
    if job_def is None:
        return []
    handle: NodeHandle | None = step.node_handle
    while handle is not None:
        assets_def = job_def.asset_layer.get_assets_def_for_node(handle)
        if assets_def is not None:
            tags_by_key = assets_def.tags_by_key
            return sorted(
                {
                    tags_by_key[key][tag]
                    for key in assets_def.keys
                    if tag in tags_by_key.get(key, {})
                }
            )
        handle = handle.parent
    return []


class StepTraits:
    """Resolves and caches the execution class and timeout of each step of one run."""

    def __init__(
        self,
        job_def: JobDefinition | None,
        class_limits: Mapping[str, int | None],
        default_timeout_s: float | None,
    ) -> None:
        self._job_def = job_def
        self._limits = class_limits
        self._default_timeout = default_timeout_s
        self._classes: dict[str, str] = {}
        self._timeouts: dict[str, float | None] = {}
        self._isolated: dict[str, bool] = {}
        self.unknown_classes: set[str] = set()

    def _values(self, step: ExecutionStep, tag: str) -> list[str]:
        value = step.tags.get(tag)
        return [value] if value is not None else _asset_tag_values(step, self._job_def, tag)

    def execution_class(self, step: ExecutionStep) -> str:
        if step.key not in self._classes:
            values = self._values(step, CLASS_TAG) or [DEFAULT_CLASS]
            for value in values:
                if value not in self._limits:
                    self.unknown_classes.add(value)
            self._classes[step.key] = min(values, key=lambda v: self._rank(v))
        return self._classes[step.key]

    def _rank(self, execution_class: str) -> float:
        limit = self._limits.get(execution_class)
        return float("inf") if limit is None else limit

    def limit(self, execution_class: str) -> int | None:
        return self._limits.get(execution_class)

    def timeout_s(self, step: ExecutionStep) -> float | None:
        """The step's timeout; an unparsable or non-positive tag value means no timeout."""
        if step.key not in self._timeouts:
            parsed: list[float] = []
            for value in self._values(step, TIMEOUT_TAG):
                try:
                    parsed.append(float(value))
                except ValueError:
                    continue
            chosen = min(parsed) if parsed else self._default_timeout
            self._timeouts[step.key] = chosen if chosen and chosen > 0 else None
        return self._timeouts[step.key]

    def isolated(self, step: ExecutionStep) -> bool:
        """Whether the step (or one of its assets) is tagged ``orch/isolate: process``."""
        if step.key not in self._isolated:
            values = self._values(step, ISOLATE_TAG)
            self._isolated[step.key] = ISOLATE_PROCESS in (v.strip().lower() for v in values)
        return self._isolated[step.key]

    def held_by_class(
        self, ready: Sequence[ExecutionStep], running_keys: Collection[str]
    ) -> set[str]:
        """Keys of ready steps that must wait because their class is at its limit.

        Ready steps are taken in launch order, each counted against its class as if launched.
        """
        in_use = Counter(self._classes.get(key, DEFAULT_CLASS) for key in running_keys)
        held: set[str] = set()
        for step in ready:
            execution_class = self.execution_class(step)
            limit = self.limit(execution_class)
            if limit is not None and in_use[execution_class] >= limit:
                held.add(step.key)
            else:
                in_use[execution_class] += 1
        return held
