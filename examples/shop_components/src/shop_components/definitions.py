"""The project's definitions: everything under ``defs/``, run by orch_assets' adaptive executor.

``load_from_defs_folder`` builds the components' definitions; merging them with a
``Definitions`` that only sets the executor makes every job of the project (the assets' implicit
job too, as the UI and ``dg launch`` materialize them) run under ``adaptive_executor``. Its run
config (``class_limits``, ``max_concurrent``, ...) then governs the gated dbt models as it governs
the steps.
"""

from pathlib import Path

import dagster as dg

from orch_assets.executor import adaptive_executor


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=adaptive_executor),
    )
