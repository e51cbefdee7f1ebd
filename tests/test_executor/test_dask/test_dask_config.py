"""The dask block is checked at launch (no cluster needed), and the cap rule is a pure function."""

from typing import Any

import pytest
from dagster import Field

from orch_assets.executor.config import (
    ADAPTIVE_CONFIG_SCHEMA,
    AdaptiveConfigError,
    settings_from_config,
)
from orch_assets.executor.dask_capacity import decide_cluster_cap
from orch_assets.executor.dask_cluster import WorkerReading

DEFAULTS = {
    name: field.default_value
    for name, field in ADAPTIVE_CONFIG_SCHEMA.items()
    if isinstance(field, Field) and field.default_provided
}

INVALID: list[tuple[dict[str, Any] | None, str]] = [
    (None, "'dask' must be exactly one of dask.address (an existing cluster) and dask.local"),
    ({"address": "127.0.0.1:8786"}, "'dask.address' must be a scheduler address like tcp://"),
    ({"address": "tcp://h:1", "local": {"n_workers": 2}}, "'dask' must be exactly one of"),
    ({"local": {"n_workers": 0}}, "'dask.local.n_workers' must be an integer from 1 to 64, got 0"),
    ({"local": {"memory_limit": "lots"}}, "'dask.local.memory_limit' must be a size such as"),
    ({"address": "tcp://h:1", "connect_timeout_s": 0}, "'dask.connect_timeout_s' must be a number"),
]


@pytest.mark.parametrize(("dask", "message"), INVALID, ids=[m.split("'")[1] for _, m in INVALID])
def test_a_bad_dask_block_is_rejected_naming_the_field(
    dask: dict[str, Any] | None, message: str
) -> None:
    config = {**DEFAULTS, "mode": "dask", "dask": dask}

    with pytest.raises(AdaptiveConfigError, match=r"^Invalid adaptive executor config: ") as error:
        settings_from_config(config)
    assert message in str(error.value)


def test_a_local_cluster_block_is_parsed_with_its_memory_limit_in_bytes() -> None:
    local = {"n_workers": 3, "threads_per_worker": 2, "memory_limit": "1.5GiB"}
    settings = settings_from_config({**DEFAULTS, "mode": "dask", "dask": {"local": local}})

    assert settings.dask is not None and settings.dask.local is not None
    assert settings.dask.local.memory_limit_bytes == int(1.5 * 2**30)
    assert (settings.dask.local.n_workers, settings.dask.local.threads_per_worker) == (3, 2)


def _worker(address: str, percent: float, nthreads: int = 2) -> WorkerReading:
    return WorkerReading(address, int(percent * 10**7), 10**9, None, 5.0, 0, nthreads, None)


def test_the_cluster_cap_uses_workers_with_headroom_and_drops_to_one_when_all_are_full() -> None:
    readings = [_worker("tcp://a:1", 50), _worker("tcp://b:1", 85)]

    some = decide_cluster_cap(8, 80, 70, readings, frozenset())
    assert (some.cap, some.headroom, some.full) == (2, ("tcp://a:1",), frozenset({"tcp://b:1"}))

    # b falls to 75%: still full until below the resume threshold; a rises to 90%.
    readings = [_worker("tcp://a:1", 90), _worker("tcp://b:1", 75)]
    none = decide_cluster_cap(8, 80, 70, readings, some.full)
    assert (none.cap, none.headroom) == (1, ())
    assert "all 2 workers at or above memory_pause_percent 80%" in none.reason

    readings = [_worker("tcp://a:1", 60), _worker("tcp://b:1", 60)]
    back = decide_cluster_cap(3, 80, 70, readings, none.full)
    assert (back.cap, back.full) == (3, frozenset())
