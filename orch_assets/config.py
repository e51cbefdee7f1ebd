"""Run options of the workforce simulation, validated before anything is written.

The same pydantic model validates twice: at launch, through the ``workforce_simulation`` job's
config mapping (a bad value never creates a run), and at step start for runs launched by
materializing the assets directly (the UI's Materialize button, ``dagster asset materialize``).
Scenario parameters default to ``None``: the dbt project's ``vars`` (``dbt_project.yml``) hold the
defaults, in one place. Values that reach dbt are typed (numbers, booleans) or checked against the
project's fixed keys and as paths (:mod:`orch_assets.parameters`); nothing else gets through.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import click
import dagster as dg
from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from orch_assets.executor.container import run_cpu_limit
from orch_assets.parameters import (
    RATE_OPTIONS,
    allowed_keys,
    check_census_file,
    check_rates,
    complete_rates,
)

THREADS_MIN, THREADS_MAX = 1, 16
THREADS_ENV_VAR = "ORCH_THREADS"
MAX_YEARS = 50
MAX_EMPLOYEES = 10_000_000
InputChangePolicy = Literal["refuse", "rebuild"]


class SimulationConfigError(dg.DagsterError, ValueError, click.ClickException):
    """Invalid run options; raised at launch, so no run is created.

    Also a ``click.ClickException``: the ``dagster`` CLI (a click application) lets the error of a
    config mapping propagate, and click prints such an exception as the one line
    ``Error: <message>`` with exit code 1, instead of Python's ~70-line traceback.
    """

    def __init__(self, message: str) -> None:
        click.ClickException.__init__(self, message)


def launch_error(error: Exception, job: str = "workforce_simulation") -> SimulationConfigError:
    """One line per invalid field, without pydantic's decorations."""
    if isinstance(error, ValidationError):
        lines = [
            str(e["msg"]).removeprefix("Value error, ")
            if e["type"] == "value_error"
            else f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}"
            for e in error.errors()
        ]
        return SimulationConfigError(f"Invalid {job} config: " + "; ".join(lines))
    return SimulationConfigError(f"Invalid {job} config: {error}")


def parse_threads(value: Any, field: str = "threads") -> int | str:
    """Returns an int in 1..16 or ``"auto"``; anything else raises naming ``field`` and the range."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        if text.lstrip("-").isdigit():
            value = int(text)
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and THREADS_MIN <= value <= THREADS_MAX
    ):
        return value
    raise ValueError(
        f"{field} must be an integer from {THREADS_MIN} to {THREADS_MAX} or 'auto', got {value!r}"
    )


def resolve_threads(
    value: int | str | None,
    environ: Mapping[str, str],
    cpu_count: int | None,
    recommendation: Callable[[], tuple[int, str] | None] | None = None,
    cpu_source: str = "cpu count",
) -> tuple[int, str]:
    """Resolves the dbt thread count and says where it came from.

    Precedence: run config, then the ``ORCH_THREADS`` environment variable, then ``auto``.
    ``auto`` takes the recommendation recorded for this machine and workload by a sweep
    (``recommendation`` is only called for ``auto``), else one thread per CPU the process may use
    (``cpu_count``, described by ``cpu_source``), at most 16.
    """
    source = "run config"
    if value is None:
        if environ.get(THREADS_ENV_VAR, "").strip():
            value, source = (
                parse_threads(environ[THREADS_ENV_VAR], THREADS_ENV_VAR),
                THREADS_ENV_VAR,
            )
        else:
            value, source = "auto", "default"
    if value != "auto":
        return int(value), source
    found = recommendation() if recommendation is not None else None
    if found is not None:
        return max(THREADS_MIN, min(THREADS_MAX, found[0])), f"auto ({source}: {found[1]})"
    return max(THREADS_MIN, min(THREADS_MAX, cpu_count or 1)), f"auto ({source}: {cpu_source})"


def resolve_threads_here(
    value: int | str | None,
    environ: Mapping[str, str],
    recommendation: Callable[[], tuple[int, str] | None] | None = None,
) -> tuple[int, str]:
    """:func:`resolve_threads` with the CPUs the calling process may use: in a container,
    ``auto`` is its cgroup's CPU quota (or affinity), not the host's count."""
    cpu = run_cpu_limit()
    return resolve_threads(value, environ, cpu.cpus, recommendation, cpu.describe())


def _check_range(field: str, value: float | int | None, low: float, high: float) -> None:
    if value is not None and not (low <= value <= high):
        raise ValueError(f"{field} must be between {low} and {high}, got {value!r}")


class SimulationConfig(dg.Config):
    """One multi-year workforce simulation. Unset scenario parameters use dbt_project.yml vars."""

    start_year: int = Field(default=2025, description="First simulated year (1900-2200).")
    end_year: int = Field(
        default=2029, description=f"Last simulated year: start_year..start_year+{MAX_YEARS - 1}."
    )
    from_year: int | None = Field(
        default=None,
        description="First year to (re)compute, start_year..end_year; earlier years are read "
        "from the database. Unset: start_year.",
    )
    n_employees: int = Field(
        default=10_000, description=f"Census size when the census is generated (1-{MAX_EMPLOYEES})."
    )
    random_seed: int = Field(default=42, description="Seed of every random draw (0-2147483647).")
    threads: Any = Field(
        default=None,
        description=(
            f"dbt threads: an integer {THREADS_MIN}-{THREADS_MAX} or 'auto'. Unset: the "
            f"{THREADS_ENV_VAR} environment variable, else auto. Never more than the adaptive "
            "executor's live cap."
        ),
    )
    census_file: str | None = Field(
        default=None,
        description="CSV census to load instead of generating one: an existing file, no glob "
        "characters (* ? [ ]).",
    )
    growth_rate: float | None = Field(default=None, description="Target headcount growth per year.")
    termination_rates: dict[str, float] | None = Field(
        default=None,
        description="Termination rate (0-1) by tenure band, bands "
        f"{', '.join(allowed_keys('termination_rates'))}, e.g. {{'0-1': 0.2}}; unnamed bands keep "
        "their default.",
    )
    new_hire_termination_rate: float | None = Field(default=None, description="0-1.")
    promotion_rates: dict[str, float] | None = Field(
        default=None,
        description="Promotion rate (0-1) by level id (seeds/job_levels.csv: "
        f"{', '.join(allowed_keys('promotion_rates'))}), e.g. {{'1': 0.15}}; unnamed levels keep "
        "their default.",
    )
    promotion_raise_pct: float | None = Field(default=None, description="0-1.")
    merit_pct: float | None = Field(default=None, description="0-1.")
    enable_cola: bool | None = Field(default=None, description="Run the COLA event model.")
    cola_pct: float | None = Field(default=None, description="0-1.")
    on_input_change: InputChangePolicy = Field(
        default="refuse",
        description="When the database holds years of other inputs: 'refuse' the run before "
        "anything is written, or 'rebuild' from start_year, dropping the stored years.",
    )

    @field_validator("threads")
    @classmethod
    def _threads_in_range(cls, value: Any) -> int | str | None:
        return None if value is None else parse_threads(value)

    @field_validator(*RATE_OPTIONS, mode="before")
    @classmethod
    def _rates_with_known_keys(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, Mapping):
            return value
        return check_rates(info.field_name or "rates", value)

    @field_validator("census_file")
    @classmethod
    def _census_file_is_a_file(cls, value: str | None) -> str | None:
        return check_census_file(value) if value else None

    @model_validator(mode="after")
    def _values_in_range(self) -> SimulationConfig:
        _check_range("start_year", self.start_year, 1900, 2200)
        _check_range("end_year", self.end_year, self.start_year, self.start_year + MAX_YEARS - 1)
        _check_range("from_year", self.from_year, self.start_year, self.end_year)
        _check_range("n_employees", self.n_employees, 1, MAX_EMPLOYEES)
        _check_range("random_seed", self.random_seed, 0, 2**31 - 1)
        _check_range("growth_rate", self.growth_rate, -0.9, 1.0)
        for name in ("new_hire_termination_rate", "promotion_raise_pct", "merit_pct", "cola_pct"):
            _check_range(name, getattr(self, name), 0.0, 1.0)
        return self

    @property
    def years(self) -> list[int]:
        return list(range(self.from_year or self.start_year, self.end_year + 1))

    def dbt_vars(self) -> dict[str, Any]:
        """The dbt ``--vars`` of this run: set values only, so dbt_project.yml keeps the defaults.

        A rates mapping is completed with the defaults of the keys it leaves out (a dbt var is
        replaced whole), and the census path is made absolute: the worker runs elsewhere.
        """
        fixed = {
            "start_year": self.start_year,
            "n_employees": self.n_employees,
            "random_seed": self.random_seed,
        }
        scenario = {
            name: getattr(self, name)
            for name in (
                "census_file",
                "growth_rate",
                "termination_rates",
                "new_hire_termination_rate",
                "promotion_rates",
                "promotion_raise_pct",
                "merit_pct",
                "enable_cola",
                "cola_pct",
            )
            if getattr(self, name) is not None
        }
        for name in RATE_OPTIONS:
            if name in scenario:
                scenario[name] = complete_rates(name, scenario[name])
        if "census_file" in scenario:
            scenario["census_file"] = str(Path(scenario["census_file"]).expanduser().resolve())
        return {**fixed, **scenario}


def validate_launch_environment(environ: Mapping[str, str] = os.environ) -> None:
    """Fails at launch on an invalid ``ORCH_THREADS``, rather than at step start."""
    if environ.get(THREADS_ENV_VAR, "").strip():
        parse_threads(environ[THREADS_ENV_VAR], THREADS_ENV_VAR)
