"""The scenarios side by side: per year headcount, hires, terminations, total compensation.

Reads each scenario's database read-only through ``SimulationStore.reader()`` (a
``DuckDBResource``). While a run writes a scenario's database (DuckDB then refuses every other
process), it reads the years that run has published as Parquet so far instead, and says so in
the log and in the ``sources`` metadata; it never waits for the run. A run that starts while this
asset reads waits for it (``SimulationStore.reader_wait_seconds``).
"""

from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from orch_assets.assets.scenarios import SCENARIO_GROUP, SCENARIO_KEY_PREFIX
from orch_assets.dbt.lock import is_lock_conflict, lock_holder
from orch_assets.partitions import SCENARIOS
from orch_assets.resources import SimulationStore
from orch_assets.runtime.chart import new_figure, png_markdown
from orch_assets.simulation.readers import Writer, fetch_rows, read_published_rows, writer_of
from orch_assets.simulation.results import SUMMARY_MODEL

METRICS = ("headcount", "hires", "terminations", "total_compensation")
COMPARISON_QUERY = f"""
    select simulation_year, headcount_end as headcount, hires,
           terminations + new_hire_terminations as terminations,
           cast(total_compensation as double) as total_compensation
    from {SUMMARY_MODEL} order by simulation_year
"""


def read_summary(store: SimulationStore, simulation: str) -> tuple[list[dict[str, Any]], str]:
    """One row per simulated year, and where they came from (the database or published years)."""
    database = store.database_path(simulation)
    writer = writer_of(database)
    if writer is None:
        try:
            with store.reader(simulation).get_connection() as con:
                return fetch_rows(con, COMPARISON_QUERY), "database"
        except duckdb.IOException as error:
            if not is_lock_conflict(error):
                raise
            pid, program = lock_holder(error)
            writer = Writer(pid=pid, program=program)
    published = read_published_rows(database, [SUMMARY_MODEL], COMPARISON_QUERY)
    shown = (f"showing published results up to year {published.years[-1]}"
             if published.years else "no year published yet")  # fmt: skip
    return published.rows, f"database is being written by {writer.describe()}; {shown}"


def render_comparison(rows: list[dict[str, Any]], path: Path) -> Path:
    """A 2x2 PNG, one panel per metric, one line per scenario (Agg canvas, thread-safe)."""
    figure = new_figure((10, 6), 90)
    for axes, metric in zip(figure.subplots(2, 2).flat, METRICS, strict=True):
        for scenario in sorted({r["scenario"] for r in rows}):
            points = [r for r in rows if r["scenario"] == scenario]
            axes.plot([r["simulation_year"] for r in points], [r[metric] for r in points],
                      marker="o", label=scenario)  # fmt: skip
        axes.set_title(metric.replace("_", " "))
        axes.xaxis.get_major_locator().set_params(integer=True)
    figure.axes[0].legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


@dg.asset(
    name="scenario_comparison",
    key_prefix=[SCENARIO_KEY_PREFIX],
    group_name=SCENARIO_GROUP,
    deps=[dg.AssetKey([SCENARIO_KEY_PREFIX, SUMMARY_MODEL])],
    retry_policy=dg.RetryPolicy(max_retries=3, delay=60),
    description="Per year headcount, hires, terminations and total compensation of every "
    "simulated scenario: a table and a chart.",
)
def scenario_comparison(
    context: dg.AssetExecutionContext, simulation_store: SimulationStore
) -> dg.MaterializeResult:
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    sources: dict[str, str] = {}
    for scenario in SCENARIOS:
        if not simulation_store.database_path(scenario.simulation).exists():
            missing.append(scenario.name)
            continue
        summary, sources[scenario.name] = read_summary(simulation_store, scenario.simulation)
        if sources[scenario.name] != "database":
            context.log.info(f"scenario {scenario.name}: {sources[scenario.name]}")
        rows += [{"scenario": scenario.name, **row} for row in summary]
    if not rows:
        raise dg.Failure(
            "no scenario has been simulated yet: materialize scenario partitions first",
            allow_retries=False,
        )
    if missing:
        context.log.warning(f"not simulated yet, left out: {', '.join(missing)}")
    chart = render_comparison(rows, simulation_store.root() / "scenario_comparison.png")
    table = dg.MetadataValue.table(
        records=[dg.TableRecord(row) for row in rows],
        schema=dg.TableSchema(columns=[
            dg.TableColumn("scenario", "string"), dg.TableColumn("simulation_year", "int"),
            dg.TableColumn("headcount", "int"), dg.TableColumn("hires", "int"),
            dg.TableColumn("terminations", "int"), dg.TableColumn("total_compensation", "float"),
        ]),
    )  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "comparison": table,
            "chart": dg.MetadataValue.md(png_markdown(chart, alt="scenario comparison")),
            "chart_path": dg.MetadataValue.path(str(chart)),
            "scenarios": ", ".join(sorted({r["scenario"] for r in rows})),
            "not simulated": ", ".join(missing) or "none",
            "sources": dg.MetadataValue.json(sources),
        }
    )
