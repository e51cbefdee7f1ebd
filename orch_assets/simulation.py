"""One multi-year simulation as one Dagster step: years in order, one dbt start-up in total."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from orch_assets.config import SimulationConfig, resolve_threads
from orch_assets.dbt.events import dbt_node_events
from orch_assets.dbt.runner import DbtWorkerError, WorkerProcess, WorkerRequest
from orch_assets.dbt.selection import conditional_exclusions, load_project_vars, subset_selection
from orch_assets.dbt.translator import ExecutionClassTranslator
from orch_assets.project import workforce_dbt_project

SNAPSHOT_MODEL = "fct_workforce_snapshot"
SUMMARY_MODEL = "fct_workforce_summary"
# Read by the worker after each year, on the connection that shares dbt's DuckDB instance.
SUMMARY_QUERIES = {
    "summary": f"select * from {SUMMARY_MODEL} where simulation_year = $year",
    "fingerprint": f"""
        select '{SNAPSHOT_MODEL}' as model, count(*) as row_count,
               coalesce(sum(hash(s)), 0)::varchar as row_hash
        from {SNAPSHOT_MODEL} s where simulation_year = $year
        union all
        select 'fct_yearly_events', count(*), coalesce(sum(hash(e)), 0)::varchar
        from fct_yearly_events e where simulation_year = $year
    """,
}
TAG_PREFIX = "orch/"


def simulation_fingerprint(per_year: Mapping[int, list[dict[str, Any]]]) -> str:
    """Order-independent hash of the snapshot and events of every year (sha256, hex)."""
    canonical = json.dumps(
        {str(year): sorted(rows, key=lambda r: r["model"]) for year, rows in per_year.items()},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _year_table(summaries: Mapping[int, Mapping[str, Any]]) -> dg.TableMetadataValue:
    rows = [dict(summary) for _, summary in sorted(summaries.items())]
    columns = list(rows[0]) if rows else []
    return dg.MetadataValue.table(
        records=[dg.TableRecord({c: _plain(r[c]) for c in columns}) for r in rows],
        schema=dg.TableSchema(
            columns=[dg.TableColumn(c, "float" if c == "total_compensation" else "int")
                     for c in columns]
        ),
    )  # fmt: skip


def _plain(value: Any) -> Any:
    return float(value) if not isinstance(value, (int, str, type(None))) else value


def _year_metadata(year: int, results: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary = results.get("summary") or [{}]
    counts = {row["model"]: row for row in results.get("fingerprint") or []}
    snapshot = counts.get(SNAPSHOT_MODEL, {})
    return {
        **{k: _plain(v) for k, v in summary[0].items() if k != "simulation_year"},
        "dagster/row_count": snapshot.get("row_count", 0),
        "orch/year_fingerprint": simulation_fingerprint({year: results.get("fingerprint") or []}),
    }


def _require_previous_year(config: SimulationConfig, database_path: Path) -> None:
    """A run that starts after start_year continues from the stored snapshot of the year before."""
    first = config.years[0]
    if first == config.start_year:
        return
    rows = 0
    if database_path.exists():
        con = duckdb.connect(str(database_path), read_only=True)
        try:
            rows = con.execute(
                f"select count(*) from {SNAPSHOT_MODEL} where simulation_year = ?", [first - 1]
            ).fetchone()[0]
        except duckdb.CatalogException:
            rows = 0
        finally:
            con.close()
    if not rows:
        raise dg.Failure(
            f"from_year {first} continues from the {first - 1} snapshot, but {database_path} has "
            f"none: run from start_year {config.start_year} first"
        )


def run_simulation(
    context: dg.AssetExecutionContext,
    config: SimulationConfig,
    database_path: Path,
    simulation: str,
) -> Iterator[dg.Output | dg.AssetMaterialization]:
    """Runs ``config.years`` in order into ``database_path`` and yields dagster-dbt events."""
    project = workforce_dbt_project
    translator = ExecutionClassTranslator()
    manifest = json.loads(project.manifest_path.read_text())
    threads, threads_source = resolve_threads(config.threads, os.environ, os.cpu_count())
    cap = None  # executor live cap: wired when the adaptive executor lands
    if cap is not None and cap < threads:
        context.log.info(f"dbt threads {threads} lowered to the executor's live cap {cap}")
        threads, threads_source = cap, f"{threads_source}, capped by executor"
    if config.census_file and not Path(config.census_file).is_file():
        raise dg.Failure(f"census_file {config.census_file!r} does not exist")
    _require_previous_year(config, database_path)
    dbt_vars = config.dbt_vars()
    if config.census_file:
        dbt_vars["census_file"] = str(Path(config.census_file).resolve())
    select = (
        subset_selection(
            manifest, context.selected_asset_keys, lambda p: translator.get_asset_key(p)
        )
        if context.is_subset
        else []
    )
    exclude = conditional_exclusions(manifest, dbt_vars, load_project_vars(project.project_dir))
    context.instance.add_run_tags(
        context.run_id,
        {
            f"{TAG_PREFIX}dbt_threads": str(threads),
            f"{TAG_PREFIX}simulation": simulation,
            f"{TAG_PREFIX}n_employees": str(config.n_employees),
            f"{TAG_PREFIX}years": f"{config.start_year}-{config.end_year}",
        },
    )
    context.log.info(
        f"Simulating {simulation} {config.start_year}-{config.end_year}, "
        f"{config.n_employees} employees, dbt threads {threads} ({threads_source}), "
        f"database {database_path}"
        + (f"; conditional models switched off: {', '.join(exclude)}" if exclude else "")
    )
    database_path.parent.mkdir(parents=True, exist_ok=True)
    worker = WorkerProcess(
        WorkerRequest(
            project_dir=project.project_dir,
            profiles_dir=project.profiles_dir,
            partial_parse_seed=project.manifest_path.with_name("partial_parse.msgpack"),
            database_path=database_path,
            target_path=database_path.parent / "dbt_target",
            years=config.years,
            threads=threads,
            vars=dbt_vars,
            select=select,
            exclude=exclude,
            summary_queries=SUMMARY_QUERIES,
        )
    )
    yield from _stream(context, worker, manifest, translator, config, lambda *a: None)


def _stream(
    context: dg.AssetExecutionContext,
    worker: WorkerProcess,
    manifest: Mapping[str, Any],
    translator: ExecutionClassTranslator,
    config: SimulationConfig,
    track: Any,
) -> Iterator[dg.Output | dg.AssetMaterialization]:
    final_year = config.end_year
    pending: list[dict[str, Any]] = []
    summaries: dict[int, dict[str, Any]] = {}
    fingerprints: dict[int, list[dict[str, Any]]] = {}
    messages = worker.messages()
    try:
        for message in messages:
            kind = message["type"]
            if kind == "ready":
                track(context.run_id, context.op_handle, worker.pid)
                context.log.info(f"dbt worker ready in {message['startup_seconds']} s")
            elif kind == "year_start":
                done = message["year"] - config.years[0]
                context.log.info(f"Year {message['year']} ({done + 1}/{len(config.years)})")
            elif kind == "log":
                log = context.log.warning if message["level"] in ("warn", "error") else context.log.debug
                log(f"[{message['year']}] {message['msg']}")
            elif kind == "dbt_event":
                pending.append(message["event"])
            elif kind == "year_summary":
                year, results = message["year"], message["results"]
                summaries[year] = (results.get("summary") or [{}])[0]
                fingerprints[year] = results.get("fingerprint") or []
                extra = _extra_metadata(context, translator, manifest, year, results)
                if year == final_year:
                    extra = _with_run_totals(context, translator, manifest, extra, summaries, fingerprints)
                for raw in pending:
                    yield from dbt_node_events(
                        context, manifest, translator, raw, year, year == final_year, extra
                    )
                pending.clear()
            elif kind == "year_end":
                counts = ", ".join(f"{k} {v}" for k, v in sorted(message["counts"].items()))
                status = "done" if message["success"] else "FAILED"
                context.log.info(f"Year {message['year']} {status} in {message['seconds']} s: {counts}")
    except DbtWorkerError as error:
        raise dg.Failure(
            description=str(error),
            metadata={"stderr (tail)": dg.MetadataValue.text(error.stderr_tail[-4000:])},
        ) from None
    finally:
        messages.close()
    fingerprint = simulation_fingerprint(fingerprints)
    context.instance.add_run_tags(context.run_id, {f"{TAG_PREFIX}fingerprint": fingerprint})
    context.log.info(f"Simulation fingerprint {fingerprint}")


def _key_of(translator: ExecutionClassTranslator, manifest: Mapping[str, Any], name: str) -> dg.AssetKey:
    props = next(p for p in manifest["nodes"].values() if p["name"] == name and p["resource_type"] == "model")
    return translator.get_asset_key(props)


def _extra_metadata(
    context: dg.AssetExecutionContext,
    translator: ExecutionClassTranslator,
    manifest: Mapping[str, Any],
    year: int,
    results: Mapping[str, Any],
) -> dict[dg.AssetKey, dict[str, Any]]:
    year_metadata = _year_metadata(year, results)
    return {
        _key_of(translator, manifest, SNAPSHOT_MODEL): year_metadata,
        _key_of(translator, manifest, SUMMARY_MODEL): year_metadata,
    }


def _with_run_totals(
    context: dg.AssetExecutionContext,
    translator: ExecutionClassTranslator,
    manifest: Mapping[str, Any],
    extra: dict[dg.AssetKey, dict[str, Any]],
    summaries: Mapping[int, Mapping[str, Any]],
    fingerprints: Mapping[int, list[dict[str, Any]]],
) -> dict[dg.AssetKey, dict[str, Any]]:
    snapshot_key = _key_of(translator, manifest, SNAPSHOT_MODEL)
    extra[snapshot_key] = {
        **extra[snapshot_key],
        "years": _year_table(summaries),
        "orch/fingerprint": simulation_fingerprint(fingerprints),
    }
    return extra
