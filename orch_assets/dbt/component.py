"""``GatedDbtProjectComponent``: dagster-dbt's ``DbtProjectComponent`` (Components, ``dg``) whose
dbt command runs through :class:`~orch_assets.dbt.resource.GatedDbtCliResource`.

``DbtProjectComponent`` builds its ``@multi_asset`` itself and hands its public
``execute(context, dbt)`` a ``DbtCliResource`` it creates; this subclass turns that resource into
a gated one with the same project, profile and target, and adds the resource's gate settings as
attributes. Every other attribute, the asset keys and the scaffolder are dagster-dbt's. (No
``from __future__ import annotations``: the Components framework reads the annotations.)
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import dagster as dg
from dagster.components.resolved.model import Resolver
from dagster_dbt import DbtCliResource, DbtProject, DbtProjectComponent
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from orch_assets.dbt.classes import (
    EXECUTION_CLASS_TAG,
    EXECUTION_CLASSES,
    execution_class,
)
from orch_assets.dbt.resource import GatedDbtCliResource

ExecutionClass = Literal["parallel_safe", "sequential", "conditional"]


def _nullable(json_type: str, **bounds: float) -> Any:
    """A JSON schema of ``type | null`` with a bound: ``dg check yaml`` then reports the bound
    ("0 is less than the minimum of 1") rather than "not valid under any of the given schemas"."""

    def schema(field_schema: dict[str, Any]) -> None:
        field_schema.pop("anyOf", None)
        field_schema.update({"type": [json_type, "null"], **bounds})

    return schema


def _limit() -> Any:
    return Field(default=None, ge=1, json_schema_extra=_nullable("integer", minimum=1))


class ClassLimits(dg.Model):
    """The most models of each execution class at once; a class left out keeps the executor's
    default (sequential 1, conditional 2, parallel_safe up to the cap), null: up to the cap."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"propertyNames": {"enum": list(EXECUTION_CLASSES)}}
    )

    parallel_safe: int | None = _limit()
    sequential: int | None = _limit()
    conditional: int | None = _limit()


# The attributes this component adds, as ``dg check yaml`` validates them: no template strings
# (every other attribute also accepts one), so a wrong class or limit is a schema error naming
# the attribute and the allowed values.
_STRICT_FIELDS: dict[str, Any] = {
    "class_limits": (ClassLimits, Field(default=None)),
    "default_execution_class": (ExecutionClass, Field(default="parallel_safe")),
    "max_concurrent": (
        int | None,
        Field(default=None, ge=1, json_schema_extra=_nullable("integer", minimum=1)),
    ),
    "memory_pause_percent": (
        float | None,
        Field(
            default=None,
            gt=0,
            le=100,
            json_schema_extra=_nullable("number", exclusiveMinimum=0, maximum=100),
        ),
    ),
    "record_history": (bool, Field(default=True)),
}


def _resolve_class_limits(_context: Any, model: Any) -> dict[str, int | None] | None:
    """Only the classes the YAML names: a class left out keeps its default."""
    if model is None:
        return None
    if isinstance(model, Mapping):
        model = ClassLimits.model_validate(model)
    return model.model_dump(exclude_unset=True)


def _check_positive(value: float | None, attribute: str) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"GatedDbtProjectComponent.{attribute} is {value!r}; allowed: null or > 0")


@dataclass
class GatedDbtProjectComponent(DbtProjectComponent):
    """A ``dagster_dbt.DbtProjectComponent`` whose dbt command runs each model under its
    execution class and the live cap, with per-model timings, a timeline and runtime history.

    Change the ``type:`` line of a ``DbtProjectComponent`` ``defs.yaml``; every attribute keeps
    its meaning. Under ``orch_assets.executor.adaptive_executor`` the run's executor config
    (``class_limits``) and its live cap govern the models; under any other executor the
    attributes ``class_limits``, ``max_concurrent`` and ``memory_pause_percent`` do.

    Examples:
        .. code-block:: yaml

            # defs.yaml
            type: orch_assets.GatedDbtProjectComponent
            attributes:
              project: "{{ context.project_root }}/dbt_project"
              cli_args: [build]
              class_limits: {parallel_safe: 2, sequential: 1}
    """

    class_limits: Annotated[
        dict[str, int | None] | None,
        Resolver(
            _resolve_class_limits,
            model_field_type=ClassLimits | None,
            description="Under a non-adaptive executor: the most models of each execution class "
            "(parallel_safe, sequential, conditional) at once, each an integer >= 1 or null (up "
            "to the cap); a class left out keeps its default (sequential 1, conditional 2, "
            "parallel_safe up to the cap). Under adaptive_executor the run's executor "
            "class_limits apply.",
            examples=[{"parallel_safe": 2, "sequential": 1}],
        ),
    ] = None
    default_execution_class: Annotated[
        ExecutionClass,
        Resolver.default(
            description="The execution class of a model that declares none "
            "(meta.execution_class or a class-named dbt tag): parallel_safe, sequential or "
            "conditional.",
        ),
    ] = "parallel_safe"
    max_concurrent: Annotated[
        int | None,
        Resolver.default(
            description="Under a non-adaptive executor: the most dbt nodes at once (null: dbt "
            "--threads). Under adaptive_executor its live cap applies.",
        ),
    ] = None
    memory_pause_percent: Annotated[
        float | None,
        Resolver.default(
            description="Under a non-adaptive executor: at this system memory used %, no new "
            "node starts beside a running one until usage is 10 points lower (null: off).",
        ),
    ] = None
    record_history: Annotated[
        bool,
        Resolver.default(
            description="Record each command's node times in the runtime history and tag the "
            "run with its dbt threads (orch/dbt_threads).",
        ),
    ] = True

    @classmethod
    def model(cls) -> type[BaseModel]:
        """``DbtProjectComponent``'s attribute model with the added attributes made strict."""
        base = super().model()
        # Keep the descriptions (from the Resolver annotations), replace the types and bounds.
        fields: dict[str, Any] = {
            name: (kind, FieldInfo.merge_field_infos(base.model_fields[name], field))
            for name, (kind, field) in _STRICT_FIELDS.items()
        }
        return create_model(base.__name__, __base__=base, **fields)

    def __post_init__(self) -> None:
        _check_positive(self.max_concurrent, "max_concurrent")
        _check_positive(self.memory_pause_percent, "memory_pause_percent")
        self._check_gate_fields()

    def _gate_fields(self) -> dict[str, Any]:
        return {
            "class_limits": self.class_limits,
            "default_execution_class": self.default_execution_class,
            "max_concurrent": self.max_concurrent,
            "memory_pause_percent": self.memory_pause_percent,
            "record_history": self.record_history,
        }

    def _check_gate_fields(self) -> None:
        if self.default_execution_class not in EXECUTION_CLASSES:
            raise ValueError(
                "GatedDbtProjectComponent.default_execution_class is "
                f"{self.default_execution_class!r}; allowed: {', '.join(EXECUTION_CLASSES)}"
            )
        for name, limit in (self.class_limits or {}).items():
            if name not in EXECUTION_CLASSES or (limit is not None and limit < 1):
                raise ValueError(
                    f"GatedDbtProjectComponent.class_limits has {name}: {limit!r}; allowed: "
                    f"{', '.join(EXECUTION_CLASSES)}, each an integer >= 1 or null"
                )

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        """dagster-dbt's spec plus the asset tag ``orch/execution_class`` of each model; an
        unknown class fails the load, naming the model."""
        spec = super().get_asset_spec(manifest, unique_id, project)
        value = execution_class(manifest["nodes"].get(unique_id, {}), self.default_execution_class)
        if value is None:
            return spec
        return spec.merge_attributes(tags={EXECUTION_CLASS_TAG: value})

    def gated_resource(self, dbt: DbtCliResource) -> GatedDbtCliResource:
        """``dbt`` (the resource ``DbtProjectComponent`` creates for the project) as a gated
        resource with the same project, profile, target and flags, and this component's gate."""
        if isinstance(dbt, GatedDbtCliResource):
            return dbt
        return GatedDbtCliResource(
            project_dir=dbt.project_dir,
            global_config_flags=dbt.global_config_flags,
            profiles_dir=dbt.profiles_dir,
            profile=dbt.profile,
            target=dbt.target,
            state_path=dbt.state_path,
            **self._gate_fields(),
        )

    def execute(self, context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        """``DbtProjectComponent.execute`` (``cli_args``, ``include_metadata``) on the gated
        resource; its dbt worker ends with the step (the resource is made here, so Dagster does
        not tear it down)."""
        gated = self.gated_resource(dbt)
        try:
            yield from super().execute(context, gated)
        finally:
            gated.stop_workers()
