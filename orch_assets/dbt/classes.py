"""Execution classes of dbt models: ``meta.execution_class``, a class-named dbt tag, or a default.

A project that declares no classes at all gets the default (``parallel_safe`` unless configured)
for every model. An unknown value is an error naming the model, the value and the choices. No
Dagster import: the gated dbt process (:mod:`orch_assets.dbt.gated_main`) uses it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EXECUTION_CLASS_TAG = "orch/execution_class"
EXECUTION_CLASS_META = "execution_class"
EXECUTION_CLASSES = ("parallel_safe", "sequential", "conditional")
DEFAULT_EXECUTION_CLASS = "parallel_safe"
ENABLED_BY_META = "enabled_by"


class InvalidExecutionClassError(ValueError):
    """A dbt model declares an execution class that is not allowed (or none, where required)."""


def node_meta(props: Mapping[str, Any]) -> dict[str, Any]:
    """A node's ``meta``, its config's taking precedence."""
    return {**(props.get("meta") or {}), **((props.get("config") or {}).get("meta") or {})}


def _name(props: Mapping[str, Any]) -> str:
    return str(props.get("unique_id", props.get("name")))


def check_execution_class(value: object, where: str, source: str = "") -> str:
    """``value`` if it is one of :data:`EXECUTION_CLASSES`, else a one-line error naming
    ``where`` the value came from (and ``source``, e.g. "config meta")."""
    if value not in EXECUTION_CLASSES:
        raise InvalidExecutionClassError(
            f"{where} has execution_class {value!r}{f' ({source})' if source else ''}; "
            f"allowed: {', '.join(EXECUTION_CLASSES)}"
        )
    return str(value)


def execution_class(props: Mapping[str, Any], default: str | None = None) -> str | None:
    """The class of a dbt node: ``meta.execution_class``, a class-named dbt tag, or ``default``.

    Non-models without a declared class have none (None). ``default=None`` makes the class
    required: a model declaring none is an error naming it.
    """
    where = f"dbt model '{_name(props)}'"
    value = node_meta(props).get(EXECUTION_CLASS_META)
    if value is not None:
        return check_execution_class(value, where, "config meta")
    tagged = sorted({tag for tag in props.get("tags") or [] if tag in EXECUTION_CLASSES})
    if len(tagged) > 1:
        raise InvalidExecutionClassError(
            f"{where} has the tags {', '.join(tagged)}: at most one execution class per model"
        )
    if tagged:
        return tagged[0]
    if props.get("resource_type") != "model":
        return None
    if default is None:
        return check_execution_class(None, where, "config meta")
    return check_execution_class(default, where, "the default class")


def classes_by_unique_id(manifest: Mapping[str, Any], default: str | None) -> dict[str, str]:
    """unique_id -> class of every node that has one (every model; seeds, tests: if declared)."""
    classes = {uid: execution_class(props, default) for uid, props in manifest["nodes"].items()}
    return {uid: value for uid, value in classes.items() if value is not None}


def node_class(node: Any, default: str | None) -> str | None:
    """:func:`execution_class` of a dbt manifest node object (as dbt hands it to its pool)."""
    config = getattr(node, "config", None)
    props = {
        "unique_id": getattr(node, "unique_id", None),
        "resource_type": str(getattr(node, "resource_type", "")),
        "meta": getattr(node, "meta", None) or {},
        "config": {"meta": getattr(config, "meta", None) or {}},
        "tags": list(getattr(node, "tags", None) or []),
    }
    return execution_class(props, default)
