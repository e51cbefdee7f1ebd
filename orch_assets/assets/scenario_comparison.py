"""The scenarios side by side: per year headcount, hires, terminations, total compensation.

Reads each scenario's database read-only while holding the database's pool, so it waits for a
run that is simulating that scenario instead of meeting its lock. DuckDB refuses even a read-only
connection while another process writes the file: a writer outside Dagster fails this asset with
a message naming the file (and the retry policy tries again later).
"""

from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from orch_assets.assets.scenarios import SCENARIO_GROUP, SCENARIO_KEY_PREFIX
from orch_assets.partitions import SCENARIOS
from orch_assets.resources import SimulationStore, database_pool
from orch_assets.runtime.chart import png_markdown
from orch_assets.simulation.pool import hold_pool
from orch_assets.simulation.results import SUMMARY_MODEL

METRICS = ("headcount", "hires", "terminations", "total_compensation")
COMPARISON_QUERY = f"""
    select simulation_year, headcount_end as headcount, hires,
           terminations + new_hire_terminations as terminations,
           cast(total_compensation as double) as total_compensation
    from {SUMMARY_MODEL} order by simulation_year
"""


def read_summary(database: Path) -> list[dict[str, Any]]:
    """One row per simulated year; raises dg.Failure if the file is being written."""
    try:
        con = duckdb.connect(str(database), read_only=True)
    except duckdb.IOException as error:
        raise dg.Failure(f"{database} is locked by another process: {error}") from None
    try:
        cursor = con.execute(COMPARISON_QUERY)
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]
    finally:
        con.close()


def render_comparison(rows: list[dict[str, Any]], path: Path) -> Path:
    """A 2x2 PNG, one panel per metric, one line per scenario (Agg canvas, thread-safe)."""
    figure = Figure(figsize=(10, 6), dpi=90)
    FigureCanvasAgg(figure)
    for axes, metric in zip(figure.subplots(2, 2).flat, METRICS):
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
    for scenario in SCENARIOS:
        database = simulation_store.database_path(scenario.simulation)
        if not database.exists():
            missing.append(scenario.name)
            continue
        with hold_pool(context, database_pool(scenario.simulation)):
            summary = read_summary(database)
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
        }
    )
