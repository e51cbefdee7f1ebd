"""The fixed keys and paths that scenario parameters may name, read from the dbt project once.

Run config and scenario files reach dbt as ``--vars``; these rules keep every value one that the
project defines: tenure bands are the keys of ``termination_rates`` in ``dbt_project.yml``, level
ids the ``level_id`` column of ``seeds/job_levels.csv``, and a census file an existing regular
file whose path DuckDB reads as that one file. (The dbt macros in ``macros/safe_vars.sql`` check
the same values again, for anyone who passes ``--vars`` by hand.)

A partial rates mapping overrides only the keys it names: the others keep their
``dbt_project.yml`` default (:func:`complete_rates`).
"""

from __future__ import annotations

import csv
import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orch_assets.project import DBT_PROJECT_DIR
from orch_assets.simulation.selection import load_project_vars

RATE_OPTIONS = ("termination_rates", "promotion_rates")
# DuckDB's readers expand these to other files; a control character has no place in a path.
UNSAFE_PATH_CHARACTERS = re.compile(r"[\x00-\x1f*?\[\]]")
SHOWN_CHARACTERS = 80


@functools.cache
def project_defaults() -> dict[str, Any]:
    """The ``vars`` of ``dbt_project.yml``: the defaults of every scenario parameter."""
    return load_project_vars(DBT_PROJECT_DIR)


def _seed_column(seed: str, column: str) -> tuple[str, ...]:
    with open(DBT_PROJECT_DIR / "seeds" / f"{seed}.csv", newline="") as f:
        return tuple(row[column].strip() for row in csv.DictReader(f))


@functools.cache
def level_ids() -> tuple[str, ...]:
    """The job levels of ``seeds/job_levels.csv``, in file order."""
    return _seed_column("job_levels", "level_id")


@functools.cache
def department_ids() -> tuple[str, ...]:
    """The departments of ``seeds/departments.csv``, in file order."""
    return _seed_column("departments", "department_id")


def allowed_keys(option: str) -> tuple[str, ...]:
    """The keys ``option`` (``termination_rates`` or ``promotion_rates``) may have."""
    if option == "termination_rates":
        return tuple(str(band) for band in project_defaults()["termination_rates"])
    if option == "promotion_rates":
        return level_ids()
    raise KeyError(option)


def shown(value: Any) -> str:
    """``repr`` of a value, cut to a readable length: an error message stays one line."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 3] + "..."


def check_rates(option: str, rates: Mapping[Any, Any]) -> dict[str, float]:
    """Keys from the project's fixed set (integer level ids are taken as their text), rates in
    0..1. Raises ``ValueError`` naming the option, the key and the allowed values."""
    allowed = allowed_keys(option)
    checked: dict[str, float] = {}
    for key, rate in rates.items():
        text = str(key) if isinstance(key, int) and not isinstance(key, bool) else key
        if text not in allowed:
            raise ValueError(
                f"{option} has the key {shown(key)}; allowed keys: {', '.join(allowed)}"
            )
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            # ValueError, not TypeError: pydantic turns only ValueError into a validation error.
            raise ValueError(f"{option}[{text!r}] must be a number from 0 to 1, got {shown(rate)}")
        if not (0.0 <= rate <= 1.0):  # also false for NaN
            raise ValueError(f"{option}[{text!r}] must be between 0.0 and 1.0, got {rate!r}")
        checked[text] = float(rate) if isinstance(rate, float) else rate
    return checked


def complete_rates(option: str, rates: Mapping[str, float]) -> dict[str, float]:
    """``rates`` over the ``dbt_project.yml`` default of every key it leaves out."""
    defaults = {str(key): value for key, value in project_defaults()[option].items()}
    return {**defaults, **rates}


def check_census_file(value: str) -> str:
    """An existing, readable regular file whose path has no glob or control characters."""
    if UNSAFE_PATH_CHARACTERS.search(value):
        raise ValueError(
            f"census_file {shown(value)} must name one file: no control characters and none of "
            "the glob characters * ? [ ]"
        )
    path = Path(value).expanduser()
    if path.is_dir():
        raise ValueError(f"census_file {value!r} is a directory, not a CSV file")
    if not path.exists():
        raise ValueError(f"census_file {value!r} does not exist")
    if not path.is_file():
        raise ValueError(f"census_file {value!r} is not a regular file")
    if not os.access(path, os.R_OK):
        raise ValueError(f"census_file {value!r} is not readable")
    if path.stat().st_size == 0:
        raise ValueError(f"census_file {value!r} is empty (0 bytes)")
    return value
