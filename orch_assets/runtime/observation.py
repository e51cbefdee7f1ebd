"""The asset observation that makes each recorded run visible on ``orch_runtime_history``."""

from __future__ import annotations

from typing import Any

import dagster as dg

from orch_assets.runtime.store import RuntimeRow

RUNTIME_HISTORY_KEY = dg.AssetKey("orch_runtime_history")
NOT_RECORDED = "n/a"


def _optional(value: Any) -> Any:
    return dg.MetadataValue.text(NOT_RECORDED) if value is None else value


def seconds_text(value: float | None) -> str:
    """``0.10 s``; ``1.2 min`` from a minute on."""
    if value is None:
        return NOT_RECORDED
    return f"{value / 60:.1f} min" if value >= 60 else f"{value:.2f} s"


def percent_text(value: float | None) -> str:
    """``97 %`` (``value`` already in percent)."""
    return NOT_RECORDED if value is None else f"{value:.0f} %"


def bytes_text(value: int | None) -> str:
    """``1.2 GiB`` from a GiB on, else ``512 MiB``."""
    if value is None:
        return NOT_RECORDED
    gib = value / 1024**3
    return f"{gib:.1f} GiB" if gib >= 1 else f"{value / 1024**2:.0f} MiB"


def run_observation(row: RuntimeRow, database_path: str, total_rows: int) -> dg.AssetObservation:
    """One observation per recorded run: rounded values with units to read, and ``wall_seconds``
    as a number, which the UI plots across observations."""
    efficiency = row.parallel_efficiency
    return dg.AssetObservation(
        asset_key=RUNTIME_HISTORY_KEY,
        metadata={
            "run_id": dg.MetadataValue.dagster_run(row.run_id),
            "job": row.job_name,
            "status": row.status,
            "configuration": row.configuration,
            "dbt_threads": _optional(row.dbt_threads),
            "threads_source": _optional(row.threads_source),
            "executor_mode": _optional(row.executor_mode),
            "max_concurrent": _optional(row.max_concurrent),
            "wall": seconds_text(row.wall_seconds),
            "wall_seconds": _optional(
                None if row.wall_seconds is None else round(row.wall_seconds, 2)
            ),
            "step_time": seconds_text(row.step_seconds),
            "parallel_efficiency": percent_text(None if efficiency is None else efficiency * 100),
            "peak_rss": bytes_text(row.peak_rss_bytes),
            "mean_cpu": percent_text(row.mean_cpu_percent),
            "n_employees": _optional(row.n_employees),
            "fingerprint": _optional(row.fingerprint),
            "rows_in_history": total_rows,
            "database": dg.MetadataValue.path(database_path),
        },
        tags={"orch/run_id": row.run_id},
    )
