"""Runtime rows written by tests, for the logic that reads the table."""

from __future__ import annotations

from datetime import datetime, timedelta

from orch_assets.runtime.records import configuration_label
from orch_assets.runtime.store import RuntimeRow

T0 = datetime(2026, 1, 1, 12, 0, 0)


def make_row(
    run_id: str,
    threads: int,
    wall: float,
    *,
    rss_mib: float | None = None,
    fingerprint: str | None = "f" * 64,
    status: str = "success",
    inputs_key: str = "inputs-a",
    n_employees: int = 1000,
    n_years: int = 1,
    sweep_id: str | None = None,
    host: str = "test-host",
) -> RuntimeRow:
    started = T0 + timedelta(minutes=len(run_id))
    return RuntimeRow(
        run_id=run_id, job_name="workforce_simulation", status=status,
        started_at=started, ended_at=started + timedelta(seconds=wall), wall_seconds=wall,
        executor_mode=None, max_concurrent=None, dbt_threads=threads, threads_source=None,
        configuration=configuration_label(None, None, threads),
        step_seconds=wall * 0.8, n_steps=1, peak_concurrency=1, parallel_efficiency=0.8,
        peak_rss_bytes=int(rss_mib * 1024**2) if rss_mib is not None else None,
        mean_cpu_percent=90.0, metrics_source="sweep" if rss_mib is not None else None,
        simulation="baseline", n_employees=n_employees, start_year=2025,
        end_year=2025 + n_years - 1, n_years=n_years, inputs_key=inputs_key,
        inputs_json='{"job": "workforce_simulation"}', fingerprint=fingerprint,
        sweep_id=sweep_id, host=host, cpu_count=2, run_updated_at=started, recorded_at=started,
    )  # fmt: skip
