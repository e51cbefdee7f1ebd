"""Runs with the same inputs must produce the same output fingerprint at any thread setting."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from orch_assets.runtime.store import RuntimeRow


@dataclass(frozen=True)
class Mismatch:
    """Runs with one inputs key and more than one fingerprint."""

    inputs_key: str
    inputs_json: str
    runs_by_fingerprint: dict[str, tuple[RuntimeRow, ...]]

    def describe(self) -> str:
        config = json.loads(self.inputs_json)
        lines = [f"Inputs {self.inputs_key[:12]} (job {config.get('job')}) differ:"]
        for fingerprint, runs in sorted(self.runs_by_fingerprint.items()):
            named = ", ".join(f"{r.run_id} ({r.configuration})" for r in runs)
            lines.append(f"- fingerprint {fingerprint[:16]}: {named}")
        return "\n".join(lines)


@dataclass(frozen=True)
class DeterminismResult:
    groups: int
    compared_groups: int
    configurations: int
    runs: int
    mismatches: tuple[Mismatch, ...]

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def statement(self) -> str:
        if self.mismatches:
            return "Outputs DIFFER for the same inputs:\n" + "\n".join(
                m.describe() for m in self.mismatches
            )
        if not self.runs:
            return "No successful run with a fingerprint to compare."
        if not self.compared_groups:
            return (
                f"Not compared yet: no inputs were run at two thread configurations "
                f"({self.runs} fingerprinted run{'s' if self.runs != 1 else ''})."
            )
        return (
            f"Outputs identical across {self.configurations} configuration"
            f"{'s' if self.configurations != 1 else ''} ({self.runs} runs, "
            f"{self.groups} set{'s' if self.groups != 1 else ''} of inputs)."
        )


def check_determinism(rows: Sequence[RuntimeRow]) -> DeterminismResult:
    """Groups successful fingerprinted runs by inputs key; any group with two fingerprints fails.

    A group counts as compared when its runs cover at least two thread configurations; a
    difference between runs of one configuration is reported too (it is non-determinism all
    the same). ``configurations`` counts the distinct configurations of the compared groups.
    """
    groups: dict[str, list[RuntimeRow]] = {}
    for row in rows:
        if row.status == "success" and row.fingerprint:
            groups.setdefault(row.inputs_key, []).append(row)
    mismatches = []
    compared, configurations = 0, set()
    for key, runs in sorted(groups.items()):
        by_fingerprint: dict[str, list[RuntimeRow]] = {}
        for run in runs:
            by_fingerprint.setdefault(run.fingerprint or "", []).append(run)
        group_configurations = {r.configuration for r in runs}
        if len(group_configurations) > 1:
            compared += 1
            configurations |= group_configurations
        if len(by_fingerprint) > 1:
            mismatches.append(
                Mismatch(key, runs[0].inputs_json, {f: tuple(r) for f, r in by_fingerprint.items()})
            )
    return DeterminismResult(
        groups=len(groups),
        compared_groups=compared,
        configurations=len(configurations),
        runs=sum(len(r) for r in groups.values()),
        mismatches=tuple(mismatches),
    )
