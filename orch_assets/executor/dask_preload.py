"""Imported once by the step zygote of each Dask worker (mode dask), before any step is forked.

Creating the first ephemeral instance in a process imports and builds Dagster's in-memory
storages (4 s on a loaded 2-core machine, 0.4 s after that), so the zygote (``zygote.py``) does
it once here and every step process forked from it starts warm.
"""

from dagster import DagsterInstance

from orch_assets.executor import dask_step as _dask_step  # noqa: F401

with DagsterInstance.ephemeral():
    pass
