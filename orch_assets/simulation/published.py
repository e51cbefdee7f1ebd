"""Which tables a simulation publishes for readers, and where (see orch_assets/simulation/publish.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The dbt layer (models/<layer>/) whose models are the simulation's results.
PUBLISHED_LAYER = "marts"
RESULTS_DIR_NAME = "results"


def published_tables(manifest: Mapping[str, Any], layer: str = PUBLISHED_LAYER) -> list[str]:
    """The enabled models of ``layer`` in the dbt manifest, by name (sorted)."""
    return sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and len(node.get("fqn", [])) > 2
        and node["fqn"][1] == layer
        and node.get("config", {}).get("enabled", True)
    )


def results_dir(database_path: Path) -> Path:
    """``<simulation dir>/results``, beside the database."""
    return database_path.parent / RESULTS_DIR_NAME
