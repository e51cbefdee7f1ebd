"""Turns the worker's per-year dbt events into dagster-dbt asset events.

dagster-dbt translates each finished dbt node into an ``Output`` (with its standard metadata).
A multi-year run builds every model once per year, but an op may yield each output only once:
earlier years become ``AssetMaterialization`` events and the final year the ``Output``. Each
event carries ``simulation_year`` so the UI shows one materialization per model per year.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

YEAR_METADATA_KEY = "simulation_year"


def dbt_node_events(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    manifest: Mapping[str, Any],
    translator: DagsterDbtTranslator,
    raw_event: dict[str, Any],
    year: int,
    final_year: bool,
    extra_metadata: Mapping[dg.AssetKey, Mapping[str, Any]] | None = None,
    partition: str | None = None,
    node_metadata: Mapping[str, Any] | None = None,
) -> Iterator[dg.Output | dg.AssetMaterialization]:
    """Dagster events for one finished dbt model; tests and failures yield nothing here.

    In an op without assets (dagster-dbt then yields materializations, not outputs) every year is
    an ``AssetMaterialization``; ``partition`` is set on the materializations.
    ``node_metadata`` (the node's timing in the build) is added to its event.
    """
    message = DbtCoreCliEventMessage(raw_event=raw_event, event_history_metadata={})
    for event in message.to_default_asset_events(
        manifest=manifest, dagster_dbt_translator=translator, context=context
    ):
        if isinstance(event, dg.AssetMaterialization) and not context.has_assets_def:
            key = event.asset_key
        elif isinstance(event, dg.Output):
            key = context.asset_key_for_output(event.output_name)
        else:
            continue
        metadata = {
            **event.metadata,
            YEAR_METADATA_KEY: year,
            **(node_metadata or {}),
            **(extra_metadata or {}).get(key, {}),
        }
        if final_year and isinstance(event, dg.Output):
            yield dg.Output(value=None, output_name=event.output_name, metadata=metadata)
        else:
            yield dg.AssetMaterialization(asset_key=key, metadata=metadata, partition=partition)
