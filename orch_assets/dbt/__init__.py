"""Reusable dbt machinery for any dagster-dbt project: class-gated dbt commands run in one dbt
worker per step, the translator, the ``dg`` component.

Nothing here imports the project's assets. The public names are loaded on first use, so the
gated dbt process (``orch-dbt``) and the worker import none of Dagster's modules they do not use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orch_assets.dbt.classes import EXECUTION_CLASS_TAG, EXECUTION_CLASSES
    from orch_assets.dbt.invocation import GatedDbtCliInvocation
    from orch_assets.dbt.resource import GatedDbtCliResource
    from orch_assets.dbt.translator import ExecutionClassTranslator

_PUBLIC = {
    "EXECUTION_CLASSES": "orch_assets.dbt.classes",
    "EXECUTION_CLASS_TAG": "orch_assets.dbt.classes",
    "ExecutionClassTranslator": "orch_assets.dbt.translator",
    "GatedDbtCliInvocation": "orch_assets.dbt.invocation",
    "GatedDbtCliResource": "orch_assets.dbt.resource",
}

__all__ = [
    "EXECUTION_CLASSES",
    "EXECUTION_CLASS_TAG",
    "ExecutionClassTranslator",
    "GatedDbtCliInvocation",
    "GatedDbtCliResource",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'orch_assets.dbt' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
