"""The code location's import pauses the garbage collector, freezes what it imported, and leaves
the collector as it found it."""

from __future__ import annotations

import gc
import importlib
import json
import subprocess
import sys

import pytest

from orch_assets.startup import frozen_imports

PROBE = """
import gc, json, sys
if sys.argv[1] == "off":
    gc.disable()
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
import orch_assets.definitions
print(json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "full_collections": collections.count(2)}))
"""


def _import_in_a_fresh_interpreter(collector: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, collector], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(out.splitlines()[-1])


def test_the_code_location_imports_without_full_collections_and_freezes_its_objects() -> None:
    state = _import_in_a_fresh_interpreter("on")

    assert state["enabled"] is True
    assert state["full_collections"] == 0, "a full collection ran during the import"
    assert state["frozen"] > 100_000, "dagster, dbt and the project are in the permanent generation"


def test_a_collector_disabled_before_the_import_stays_disabled() -> None:
    assert _import_in_a_fresh_interpreter("off")["enabled"] is False


def test_a_failing_import_still_enables_the_collector_again() -> None:
    assert gc.isenabled()
    try:
        with pytest.raises(ModuleNotFoundError), frozen_imports():
            assert not gc.isenabled()
            importlib.import_module("orch_assets.no_such_module")
        assert gc.isenabled()
    finally:
        gc.unfreeze()
