"""Whether recorded runs are enough evidence to recommend a configuration, and if not, what is.

Rule: at least ``MIN_CONFIGURATIONS`` configurations, each with at least
``MIN_RUNS_PER_CONFIGURATION`` successful runs of the same workload (the report's selection holds
one workload: one sweep, or the runs with the same inputs). One run per configuration cannot tell a
faster configuration from a lucky run on a shared machine, and one configuration has nothing to be
compared with. Short of that, the report names what is missing and the sweep that would supply it.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orch_assets.config import SimulationConfig
from orch_assets.runtime.store import RuntimeRow
from orch_assets.runtime.summary import ConfigurationSummary

MIN_CONFIGURATIONS = 2
MIN_RUNS_PER_CONFIGURATION = 2
# Workload flags of `orch-assets sweep`; other non-default parameters go in its --config file.
_SWEEP_FLAGS = {
    "n_employees": "--n-employees",
    "start_year": "--start-year",
    "end_year": "--end-year",
    "random_seed": "--random-seed",
}


@dataclass(frozen=True)
class Evidence:
    """The configurations that may compete, and, when too few, what is missing."""

    qualified: tuple[ConfigurationSummary, ...]
    missing: str | None
    sweep_command: str | None

    @property
    def enough(self) -> bool:
        return self.missing is None


def assess(summaries: Sequence[ConfigurationSummary], rows: Sequence[RuntimeRow]) -> Evidence:
    """Which of ``summaries`` (of the successful ``rows``) qualify, and whether they are enough."""
    qualified = tuple(s for s in summaries if s.n_runs >= MIN_RUNS_PER_CONFIGURATION)
    if len(qualified) >= MIN_CONFIGURATIONS:
        return Evidence(qualified, None, None)
    have = ", ".join(f"{s.configuration}: {_runs(s.n_runs)}" for s in summaries) or "none"
    missing = (
        f"not enough evidence to recommend: a recommendation needs at least {MIN_CONFIGURATIONS} "
        f"configurations with at least {MIN_RUNS_PER_CONFIGURATION} successful runs each of the "
        f"same workload; recorded: {have}"
    )
    return Evidence(qualified, missing, sweep_command(summaries, rows))


def _runs(n: int) -> str:
    return f"{n} successful run{'s' if n != 1 else ''}"


def sweep_command(summaries: Sequence[ConfigurationSummary], rows: Sequence[RuntimeRow]) -> str:
    """The ``orch-assets sweep`` that would give every configuration seen (at least two thread
    counts) enough successful runs, at the workload of the latest (successful) run."""
    threads = sorted({s.dbt_threads for s in summaries if s.dbt_threads})
    for extra in (1, 2):
        if len(threads) >= MIN_CONFIGURATIONS:
            break
        if extra not in threads:
            threads = sorted({*threads, extra})
    parts = [
        "orch-assets",
        "sweep",
        "--threads",
        ",".join(map(str, threads)),
        "--repeats",
        str(MIN_RUNS_PER_CONFIGURATION),
    ]
    config, others = _workload_config(rows)
    for key, flag in _SWEEP_FLAGS.items():
        if config.get(key) is not None:
            parts += [flag, str(config[key])]
    command = shlex.join(parts)
    if others:
        settings = ", ".join(f"{k}: {json.dumps(v)}" for k, v in sorted(others.items()))
        command += f" --config params.yaml  # params.yaml: {{{settings}}}"
    return command


def _workload_config(rows: Sequence[RuntimeRow]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(sweep flag values, other non-default simulation parameters) of the latest successful run,
    or of the latest run when none succeeded."""
    done = [r for r in rows if r.status == "success"] or list(rows)
    if not done:
        return {}, {}
    latest = max(done, key=lambda r: r.ended_at or r.run_updated_at)
    config = json.loads(latest.inputs_json).get("config") or {}
    if not isinstance(config, dict) or "ops" in config:
        config = {}
    flags = {k: config[k] for k in _SWEEP_FLAGS if k in config}
    flags.setdefault("n_employees", latest.n_employees)
    flags.setdefault("start_year", latest.start_year)
    flags.setdefault("end_year", latest.end_year)
    defaults = SimulationConfig().model_dump(exclude={"threads"})
    others = {
        k: v
        for k, v in config.items()
        if k not in _SWEEP_FLAGS and k in defaults and v != defaults[k]
    }
    return flags, others
