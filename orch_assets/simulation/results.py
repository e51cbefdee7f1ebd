"""Per-year results of a simulation: what the worker reads after each year, and its metadata."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import dagster as dg

SNAPSHOT_MODEL = "fct_workforce_snapshot"
EVENTS_MODEL = "fct_yearly_events"
SUMMARY_MODEL = "fct_workforce_summary"

# Run by the worker after each year, on a connection that shares dbt's DuckDB instance.
# The fingerprint is order-independent: a sum of row hashes, with the row count.
SUMMARY_QUERIES = {
    "summary": f"select * from {SUMMARY_MODEL} where simulation_year = $year",
    "fingerprint": f"""
        select '{SNAPSHOT_MODEL}' as model, count(*) as row_count,
               coalesce(sum(hash(t)), 0)::varchar as row_hash
        from {SNAPSHOT_MODEL} t where simulation_year = $year
        union all
        select '{EVENTS_MODEL}', count(*), coalesce(sum(hash(t)), 0)::varchar
        from {EVENTS_MODEL} t where simulation_year = $year
    """,
}


def simulation_fingerprint(per_year: Mapping[int, list[dict[str, Any]]]) -> str:
    """sha256 over the per-year row counts and hashes of the snapshot and the events."""
    canonical = json.dumps(
        {str(year): sorted(rows, key=lambda r: r["model"]) for year, rows in per_year.items()},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


YEAR_COLUMN = "simulation_year"
YEAR_ROW_COUNT_KEY = "orch/year_row_count"


def counted_tables(manifest: Mapping[str, Any]) -> dict[str, dict[str, str | None]]:
    """The worker's ``row_counts`` request: every model stored as a table; an incremental one
    (a mart, one slice per year) is also counted for the year just built."""
    counted: dict[str, dict[str, str | None]] = {}
    for unique_id, node in manifest["nodes"].items():
        materialized = node.get("config", {}).get("materialized")
        if node["resource_type"] == "model" and materialized in ("table", "incremental"):
            year_column = YEAR_COLUMN if materialized == "incremental" else None
            counted[unique_id] = {"relation": node["relation_name"], "year_column": year_column}
    return counted


@dataclass(frozen=True)
class YearResults:
    """What the worker read after one successful year."""

    year: int
    summary: dict[str, Any]
    fingerprint_rows: list[dict[str, Any]]
    row_counts: Mapping[str, Mapping[str, int | None]] = field(default_factory=dict)

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> YearResults:
        results = message["results"]
        return cls(
            year=message["year"],
            summary={k: _plain(v) for k, v in ((results.get("summary") or [{}])[0]).items()},
            fingerprint_rows=results.get("fingerprint") or [],
            row_counts=message.get("row_counts") or {},
        )

    def metadata(self) -> dict[str, Any]:
        """Headcount, hires, terminations, compensation... of the year."""
        return {
            **{k: v for k, v in self.summary.items() if k != YEAR_COLUMN},
            "orch/year_fingerprint": simulation_fingerprint({self.year: self.fingerprint_rows}),
        }

    def row_count_metadata(self, unique_id: str) -> dict[str, Any]:
        """The model's own ``dagster/row_count``: its table's rows once the year is built; for an
        incremental table also the year's rows, labelled with the year."""
        counts = self.row_counts.get(unique_id)
        if counts is None:
            return {}
        metadata: dict[str, Any] = {"dagster/row_count": counts["total"]}
        if counts.get("in_year") is not None:
            metadata[YEAR_ROW_COUNT_KEY] = counts["in_year"]
            metadata["orch/row_counts"] = (
                f"{counts['in_year']:,} rows for {self.year}; {counts['total']:,} in the table"
            )
        return metadata


def years_table(results: list[YearResults]) -> dg.TableMetadataValue:
    """One row per simulated year, for the UI."""
    rows = [r.summary for r in sorted(results, key=lambda r: r.year)]
    columns = list(rows[0]) if rows else []
    return dg.MetadataValue.table(
        records=[dg.TableRecord(row) for row in rows],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn(c, "float" if isinstance(rows[0][c], float) else "int")
                for c in columns
            ]
        ),
    )
