"""The ``dask:`` block of the adaptive executor's config (``mode: dask``) and its validation.

``distributed`` is an optional dependency: nothing here imports it, so the config can be checked
(and a clear error raised) on a machine without it.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dagster import DagsterError, Field, Noneable, Shape

ADDRESS_PATTERN = re.compile(r"^(tcp|tls|ucx|inproc)://[A-Za-z0-9_.:\-\[\]]+$")
BYTES_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})
MAX_LOCAL_WORKERS = 64


class DaskConfigError(DagsterError):
    """A ``dask`` config value is missing or outside its allowed range."""


@dataclass(frozen=True)
class LocalClusterSettings:
    n_workers: int
    threads_per_worker: int
    memory_limit_bytes: int | None


@dataclass(frozen=True)
class DaskSettings:
    """Where the cluster is: an existing scheduler's address, or a LocalCluster to start."""

    address: str | None
    local: LocalClusterSettings | None
    connect_timeout_s: float


DASK_CONFIG_FIELD = Field(
    Shape(
        {
            "address": Field(
                Noneable(str),
                default_value=None,
                description="Scheduler of an existing cluster, e.g. tcp://scheduler-host:8786.",
            ),
            "local": Field(
                Noneable(
                    Shape(
                        {
                            "n_workers": Field(int, default_value=2),
                            "threads_per_worker": Field(int, default_value=1),
                            "memory_limit": Field(
                                Noneable(str),
                                default_value=None,
                                description="Per worker, e.g. '4GB'; unset: RAM / n_workers.",
                            ),
                        }
                    )
                ),
                default_value=None,
                description="Start a LocalCluster on the run's machine for the run.",
            ),
            "connect_timeout_s": Field(
                float, default_value=10.0, description="Seconds to reach the scheduler (0.5-300)."
            ),
        }
    ),
    is_required=False,
    description="mode: dask only: the cluster (set exactly one of address and local).",
)


def _fail(field: str, allowed: str, value: object) -> DaskConfigError:
    return DaskConfigError(
        f"Invalid adaptive executor config: '{field}' must be {allowed}, got {value!r}."
    )


def parse_bytes(field: str, value: object) -> int:
    match = BYTES_PATTERN.match(str(value)) if isinstance(value, (str, int)) else None
    if match is None or isinstance(value, bool):
        raise _fail(field, "a size such as '4GB', '512MiB' or a number of bytes", value)
    number, unit = float(match.group(1)), (match.group(2) or "b").lower()
    size = int(number * UNITS[unit])
    if size < 64 * 2**20:
        raise _fail(field, "at least 64MiB", value)
    return size


def _int(raw: Mapping[str, Any], field: str, low: int, high: int, default: int) -> int:
    value = raw.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(f"dask.local.{field}", f"an integer from {low} to {high}", value)
    return value


def dask_settings_from_config(raw: Mapping[str, Any] | None) -> DaskSettings:
    """Validate the ``dask`` block for ``mode: dask``."""
    raw = raw or {}
    address, local = raw.get("address"), raw.get("local")
    if (address is None) == (local is None):
        raise _fail(
            "dask",
            "exactly one of dask.address (an existing cluster) and dask.local (start one) "
            "when mode is dask",
            dict(raw),
        )
    if address is not None and not ADDRESS_PATTERN.match(address):
        raise _fail("dask.address", "a scheduler address like tcp://host:8786", address)
    timeout = raw.get("connect_timeout_s", 10.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise _fail("dask.connect_timeout_s", "a number from 0.5 to 300", timeout)
    if not 0.5 <= timeout <= 300:
        raise _fail("dask.connect_timeout_s", "a number from 0.5 to 300", timeout)
    local_settings = None
    if local is not None:
        memory = local.get("memory_limit")
        local_settings = LocalClusterSettings(
            n_workers=_int(local, "n_workers", 1, MAX_LOCAL_WORKERS, 2),
            threads_per_worker=_int(local, "threads_per_worker", 1, 64, 1),
            memory_limit_bytes=None
            if memory is None
            else parse_bytes("dask.local.memory_limit", memory),
        )
    return DaskSettings(address=address, local=local_settings, connect_timeout_s=float(timeout))
