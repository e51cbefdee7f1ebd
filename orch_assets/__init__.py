"""orch_assets: a Dagster plugin that runs dbt-on-DuckDB projects and any Dagster job fast,
safely and observably in parallel.

The top-level name is the ``dg`` component (registered through the
``dagster_dg_cli.registry_modules`` entry point). It is loaded on first use, so the gated dbt
process (``orch-dbt``) and the worker, which import this package, do not import dagster-dbt.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orch_assets.dbt.component import GatedDbtProjectComponent

_PUBLIC = {"GatedDbtProjectComponent": "orch_assets.dbt.component"}

__all__ = ["GatedDbtProjectComponent"]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'orch_assets' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)


def __dir__() -> list[str]:
    """Lists the lazy public names too: ``dg`` discovers components with ``dir(module)``."""
    return sorted({*globals(), *__all__})
