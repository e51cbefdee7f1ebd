"""The inputs that produce a simulation database, compared field by field.

A database must hold the results of one set of inputs only: year Y starts from the Y-1
snapshot, so a year computed with other inputs than its predecessor mixes two simulations.
Inputs are everything that changes the rows: the census (generated, or a CSV and its content
hash), census size, seed, first year, every scenario parameter resolved with the defaults of
``dbt_project.yml`` (so "unset" and "set to the default" are the same input), and a hash of the
dbt project's models, macros, seeds and ``dbt_project.yml``. Threads, executor and ``from_year``
are not inputs: they never change a result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orch_assets.config import SimulationConfig

GENERATED_CENSUS = "generated"
# Run shape, not a parameter; `simulation_year` is set per year by the step.
_NOT_PARAMETERS = frozenset({"simulation_year", "start_year", "n_employees", "random_seed",
                             "census_file"})  # fmt: skip
_PROJECT_CONTENT = ("models", "macros", "seeds")
_HASH_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def dbt_project_sha256(project_dir: Path) -> str:
    """sha256 over the path and content of every file that shapes the results."""
    digest = hashlib.sha256()
    files = [
        project_dir / "dbt_project.yml",
        *sorted(
            p
            for folder in _PROJECT_CONTENT
            for p in (project_dir / folder).rglob("*")
            if p.is_file()
        ),
    ]
    for path in files:
        digest.update(path.relative_to(project_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _canonical(value: Any) -> Any:
    """JSON round trip: values compare exactly as they are stored."""
    return json.loads(json.dumps(value, sort_keys=True))


@dataclass(frozen=True)
class SimulationInputs:
    """Name -> JSON-compatible value, as stored in ``orch_simulation_inputs``."""

    values: Mapping[str, Any]

    @classmethod
    def of(
        cls, config: SimulationConfig, project_vars: Mapping[str, Any], project_dir: Path
    ) -> SimulationInputs:
        dbt_vars = config.dbt_vars()
        census = Path(config.census_file).resolve() if config.census_file else None
        values: dict[str, Any] = {
            "census": str(census) if census else GENERATED_CENSUS,
            "census_sha256": file_sha256(census) if census else None,
            # A CSV census has its own size: the option is then unused.
            "n_employees": None if census else config.n_employees,
            "random_seed": config.random_seed,
            "start_year": config.start_year,
            "dbt_project_sha256": dbt_project_sha256(project_dir),
        }
        for name in sorted(set(project_vars) - _NOT_PARAMETERS):
            values[name] = dbt_vars.get(name, project_vars[name])
        return cls({name: _canonical(value) for name, value in values.items()})

    @classmethod
    def from_rows(cls, rows: list[tuple[str, str]]) -> SimulationInputs:
        return cls({name: json.loads(text) for name, text in rows})

    def rows(self) -> list[tuple[str, str]]:
        return [
            (name, json.dumps(value, sort_keys=True)) for name, value in sorted(self.values.items())
        ]

    def differences(self, stored: SimulationInputs) -> list[str]:
        """``name: stored X, this run Y`` for each input that differs."""
        names = sorted(set(self.values) | set(stored.values))
        return [
            f"{name}: stored {_show(stored.values.get(name))}, this run {_show(self.values.get(name))}"
            for name in names
            if stored.values.get(name) != self.values.get(name)
        ]

    def as_config(self, explicit: Mapping[str, Any], end_year: int) -> dict[str, Any]:
        """Options that reproduce these inputs, under the options the run set itself."""
        fields = SimulationConfig.model_fields
        options: dict[str, Any] = {
            name: value
            for name, value in self.values.items()
            if name in fields and value is not None
        }
        if self.values.get("census") not in (None, GENERATED_CENSUS):
            options["census_file"] = self.values["census"]
        options["end_year"] = end_year
        return {**options, **explicit}


def _show(value: Any) -> str:
    return "unset" if value is None else json.dumps(value, sort_keys=True)
