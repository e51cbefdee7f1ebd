"""Test-only jobs: a toy "simulation" whose output can be made non-deterministic, and a job
that evaluates the recorder sensor while its own run is still going."""

import dagster as dg
import duckdb

from orch_assets.runtime import tags as t


class ToySimulationConfig(dg.Config):
    threads: int = 1
    n_rows: int = 2000
    use_random: bool = False


@dg.op
def toy_simulation(context: dg.OpExecutionContext, config: ToySimulationConfig) -> int:
    """Writes rows with DuckDB at ``threads`` and tags the run with their order-free hash, as
    the workforce simulation does; ``use_random`` makes every run's rows different."""
    value = "random()" if config.use_random else "hash(range * 7)"
    con = duckdb.connect()
    try:
        con.execute(f"set threads = {config.threads}")
        con.execute(
            f"create table out as select range as id, {value} as v from range({config.n_rows})"
        )
        fingerprint = con.execute("select sum(hash(o))::varchar from out o").fetchone()[0]
    finally:
        con.close()
    context.instance.add_run_tags(
        context.run_id,
        {
            t.DBT_THREADS: str(config.threads),
            t.N_EMPLOYEES: str(config.n_rows),
            t.YEARS: "2025-2025",
            t.SIMULATION: "toy",
            t.FINGERPRINT: fingerprint,
        },
    )
    return config.n_rows


@dg.job
def toy_simulation_job() -> None:
    toy_simulation()


def run_toy(instance: dg.DagsterInstance, threads: int, use_random: bool) -> str:
    result = toy_simulation_job.execute_in_process(
        instance=instance,
        run_config={
            "ops": {"toy_simulation": {"config": {"threads": threads, "use_random": use_random}}}
        },
    )
    assert result.success
    return result.run_id


class SelfObservingConfig(dg.Config):
    runtime_dir: str


@dg.op
def evaluate_recorder_mid_run(context: dg.OpExecutionContext, config: SelfObservingConfig) -> bool:
    """True if the sensor, evaluated now, recorded this (still running) run."""
    from orch_assets.runtime.store import RuntimeStore
    from orch_assets.sensors import orch_runtime_recorder

    store = RuntimeStore(directory=config.runtime_dir)
    orch_runtime_recorder(
        dg.build_sensor_context(instance=context.instance, resources={"runtime_store": store})
    )
    return bool(store.table(context.instance).recorded_versions([context.run_id]))


@dg.job
def self_observing_job() -> None:
    evaluate_recorder_mid_run()
