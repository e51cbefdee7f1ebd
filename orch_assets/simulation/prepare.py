"""Before a simulation writes: compare its inputs with the stored ones and make the database whole.

Runs in the step, under the database's pool, before the dbt worker starts, in one transaction:

- rows of every year not recorded complete (a run killed between a year's marts) are removed;
- inputs that differ from the stored ones (while complete years exist) refuse the run with
  nothing written (``on_input_change: refuse``, the default), or remove every stored year and
  recompute from ``start_year`` (``rebuild``);
- the run's inputs are recorded. The dbt worker marks each year and every later year
  incomplete when the year's build starts, and the year complete when it succeeded, so the
  completed years are always a prefix, and a year before the run's first stays complete.

The same inputs with fewer years keep the later stored years: each year depends only on the
inputs and the year before, so once the run has succeeded they are still the results of these
inputs and are marked complete again (:func:`restore_later_years`); a run that fails or is
cancelled leaves them incomplete, and the next run removes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from orch_assets.config import SimulationConfig
from orch_assets.simulation import database as db
from orch_assets.simulation.inputs import SimulationInputs
from orch_assets.simulation.publish import publish_year

REFUSE, REBUILD = "refuse", "rebuild"


@dataclass(frozen=True)
class Plan:
    """The years this run computes, and the fingerprint rows of the stored years it keeps."""

    years: list[int]
    kept_rows: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def later(self) -> list[int]:
        """Kept stored years after the run's last: incomplete while the run rewrites earlier ones."""
        return sorted(year for year in self.kept_rows if year > self.years[-1])


def _span(years: list[int]) -> str:
    return ", ".join(map(str, years)) or "none"


def stored_state(
    path: Path, wait_seconds: float, log: Callable[[str], None]
) -> tuple[SimulationInputs | None, list[int]]:
    """The stored inputs and completed years (none for a database that does not exist)."""
    if not path.exists():
        return None, []
    con = db.connect_waiting_for_readers(path, wait_seconds, log)
    try:
        return db.stored_inputs(con), db.completed_years(con)
    finally:
        con.close()


def reuse_stored(
    path: Path, explicit: Mapping[str, Any], wait_seconds: float, log: Callable[[str], None]
) -> SimulationConfig | None:
    """The stored inputs and years as options, under the ones the run set; None if none stored."""
    inputs, completed = stored_state(path, wait_seconds, log)
    if inputs is None or not completed:
        return None
    options = inputs.as_config(explicit, end_year=completed[-1])
    try:
        config = SimulationConfig(**options)
    except ValueError as error:
        raise dg.Failure(
            f"the inputs stored in {path} are not valid run options: {error}"
        ) from None
    log(f"Nothing configured: reusing the inputs stored in {path} (years {config.start_year}-"
        f"{config.end_year}); set run config to choose others")  # fmt: skip
    return config


def configured_options(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
) -> dict[str, Any] | None:
    """The options an asset-job run's op config sets; None when the run's config is mapped.

    A job with a config mapping (``workforce_simulation``) fills every option with its default
    at launch, so a default there was asked for. An asset-job run (the UI's Materialize, whose
    button sends empty config; ``dagster asset materialize``) carries the op config as given:
    keys it lacks were not configured.
    """
    if context.job_def.config_mapping is not None:
        return None
    run_config: dict[str, Any] = dict(context.run.run_config or {})
    ops: dict[str, Any] = run_config.get("ops") or {}
    return dict((ops.get(context.op_def.name) or {}).get("config") or {})


def remove_interrupted_years(path: Path, log: Callable[[str], None]) -> None:
    """After a failed year: its rows go now, not only at the next run's start."""
    if not path.exists():
        return
    try:
        con = db.connect(path)
    except duckdb.Error as error:
        log(f"Could not remove the failed year now ({error}); the next run on {path} removes it")
        return
    try:
        interrupted = sorted(db.stored_years(con) - set(db.completed_years(con)))
        db.remove_years(con, interrupted)
    finally:
        con.close()
    if interrupted:
        log(f"Removed the rows of the failed year(s) {_span(interrupted)} from {path}")


def restore_later_years(
    path: Path,
    plan: Plan,
    publish_to: tuple[Path, list[str], dict[str, Any]],
    wait_seconds: float,
    log: Callable[[str], None],
) -> None:
    """After the run's last year succeeded: the stored later years are complete again.

    The run un-completed them when it started rewriting an earlier year (completed years stay a
    prefix). Each year depends only on the inputs, which are the stored ones, and the year
    before, which the run has recomputed: the stored later years are still its results, so they
    are marked complete and published again, in order.
    """
    later = plan.later
    if not later:
        return
    results, tables, writer = publish_to
    con = db.connect_waiting_for_readers(path, wait_seconds, log)
    try:
        if sorted(db.stored_years(con) & set(later)) != later:
            return
        db.mark_completed(con, later)
        for year in later:
            publish_year(con, results, tables, year, writer)
    finally:
        con.close()
    log(f"Kept the stored years {_span(later)} (same inputs): complete and published again")


def prepare_database(
    path: Path,
    config: SimulationConfig,
    inputs: SimulationInputs,
    on_input_change: str,
    subset: bool,
    wait_seconds: float,
    log: Callable[[str], None],
) -> Plan:
    years = config.years
    if not path.exists():
        if years[0] != config.start_year:
            raise dg.Failure(
                f"from_year {years[0]} continues from the {years[0] - 1} snapshot, but {path} has "
                f"none: run from start_year {config.start_year} first"
            )
        if subset:
            raise dg.Failure(f"{path} holds no simulation yet: materialize every asset first")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = db.connect_waiting_for_readers(path, wait_seconds, log)
    try:
        con.begin()
        db.ensure_tables(con)
        plan = _plan(con, path, config, inputs, on_input_change, subset, log)
        db.record_inputs(con, inputs)
        con.commit()
        return plan
    except BaseException:
        con.rollback()
        raise
    finally:
        con.close()


def _plan(
    con: Any,
    path: Path,
    config: SimulationConfig,
    inputs: SimulationInputs,
    on_input_change: str,
    subset: bool,
    log: Callable[[str], None],
) -> Plan:
    stored, completed, present = (
        db.stored_inputs(con),
        db.completed_years(con),
        db.stored_years(con),
    )
    if stored is not None and completed:
        differences = inputs.differences(stored)
    elif stored is None and present:
        differences = ["recorded inputs: none (the database predates input recording)"]
    else:
        differences = []
    years = config.years
    if differences:
        if on_input_change != REBUILD:
            raise dg.Failure(
                f"this run's inputs differ from those of the years "
                f"{_span(completed or sorted(present))} stored in "
                f"{path}: {'; '.join(differences)}. Nothing was written. Set on_input_change: "
                "rebuild to recompute from start_year and drop the stored years, or use another "
                "data_dir"
            )
        if subset:
            raise dg.Failure(
                f"inputs differ from those stored in {path} ({'; '.join(differences)}), and a "
                "subset of the assets cannot rebuild the database: materialize every asset"
            )
        removed = sorted(present | set(completed))
        db.remove_years(con, removed)
        log(f"Inputs changed ({'; '.join(differences)}): rebuilding from {config.start_year}, "
            f"removed stored years {_span(removed)}")  # fmt: skip
        return Plan(list(range(config.start_year, config.end_year + 1)))
    incomplete = sorted(present - set(completed))
    if incomplete:
        db.remove_years(con, incomplete)
        log(f"Removed the rows of interrupted years {_span(incomplete)} (not recorded complete) "
            f"from {path}")  # fmt: skip
    if years[0] != config.start_year and years[0] - 1 not in completed:
        raise dg.Failure(
            f"from_year {years[0]} continues from the {years[0] - 1} snapshot, but {path} has "
            f"no complete {years[0] - 1}: run from start_year {config.start_year} first"
        )
    missing = [year for year in years if year not in completed]
    if subset and missing:
        raise dg.Failure(
            f"a subset of the assets recomputes stored years only, and {path} has no complete "
            f"{_span(missing)}: materialize every asset for those years"
        )
    kept = [year for year in completed if year not in years]
    return Plan(years, db.fingerprint_rows(con, kept))
