"""The code location's import without the cyclic garbage collector re-scanning it.

Importing ``orch_assets.definitions`` (Dagster, dagster-dbt and the dbt-core it imports, the
project) leaves ~310,000 long-lived objects: modules, classes, functions, dbt's schemas. CPython's
cyclic collector re-scans every one of them at each full collection: five during the import, one
each time the run process has allocated a quarter more (holding the GIL over every thread of the
run) and a few at interpreter exit, ~0.3 s each on a 2-core machine (benchmarks/import_time.py).
None of them is garbage: the import leaves ~1,800 unreachable objects (< 1 MB).

:func:`frozen_imports` pauses the collector during the import, then moves everything that exists
into the permanent generation (``gc.freeze()``, the CPython API for long-lived start-up state), which
later collections skip. Objects made afterwards are collected as usual. The import's own garbage is
never collected; a collection over it would cost as much as one of the scans saved.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_imports() -> Iterator[None]:
    """Imports in the block run with the collector paused; on leaving it, every object that
    exists is frozen and the collector is enabled again if it was (also when an import fails)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
