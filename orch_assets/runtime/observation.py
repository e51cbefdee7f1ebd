"""The asset observation that makes each recorded run visible on ``orch_runtime_history``."""

from __future__ import annotations

from typing import Any

import dagster as dg

from orch_assets.runtime.store import RuntimeRow

RUNTIME_HISTORY_KEY = dg.AssetKey("orch_runtime_history")


def _optional(value: Any) -> Any:
    return dg.MetadataValue.text("n/a") if value is None else value


def run_observation(row: RuntimeRow, database_path: str, total_rows: int) -> dg.AssetObservation:
    """One observation per recorded run: the UI plots numeric metadata across observations."""
    return dg.AssetObservation(
        asset_key=RUNTIME_HISTORY_KEY,
        metadata={
            "run_id": dg.MetadataValue.dagster_run(row.run_id),
            "job": row.job_name,
            "status": row.status,
            "configuration": row.configuration,
            "wall_seconds": _optional(row.wall_seconds),
            "step_seconds": _optional(row.step_seconds),
            "parallel_efficiency": _optional(row.parallel_efficiency),
            "peak_rss_bytes": _optional(row.peak_rss_bytes),
            "mean_cpu_percent": _optional(row.mean_cpu_percent),
            "n_employees": _optional(row.n_employees),
            "fingerprint": _optional(row.fingerprint),
            "rows_in_history": total_rows,
            "database": dg.MetadataValue.path(database_path),
        },
        tags={"orch/run_id": row.run_id},
    )
