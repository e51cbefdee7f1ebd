"""Which finished runs to record: a cursor over run update times, plus a look-back window.

:func:`finished_runs_to_record` returns the runs that ended after the cursor, and those in a
window before it whose status was committed late, minus the runs already recorded at their
current version (``run_updated_at``). Adding tags to a finished run changes its version, so it is
recorded again (its row replaced) with the new tags.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import dagster as dg

from orch_assets.runtime.records import FINISHED_STATUSES, utc
from orch_assets.runtime.store import RuntimeTable

# A run's status can be committed a little after its update timestamp was taken; re-read this
# much history before the cursor so such a run is still found.
LATE_WINDOW = timedelta(seconds=120)


@dataclass(frozen=True)
class ScanCursor:
    """Update timestamp (UTC epoch seconds) of the newest finished run seen so far."""

    updated_after: float = 0.0

    @classmethod
    def parse(cls, text: str | None) -> ScanCursor:
        if not text:
            return cls()
        try:
            return cls(float(json.loads(text)["updated_after"]))
        except (ValueError, KeyError, TypeError):
            return cls()

    def serialize(self) -> str:
        return json.dumps({"updated_after": self.updated_after})


def _finished(
    instance: dg.DagsterInstance, after: datetime, before: datetime | None, limit: int
) -> Sequence[dg.RunRecord]:
    return instance.get_run_records(
        filters=dg.RunsFilter(
            statuses=list(FINISHED_STATUSES), updated_after=after, updated_before=before
        ),
        order_by="update_timestamp",
        ascending=True,
        limit=limit,
    )


def finished_runs_to_record(
    instance: dg.DagsterInstance, table: RuntimeTable, cursor: ScanCursor, limit: int
) -> tuple[list[dg.RunRecord], ScanCursor]:
    """Finished runs not yet recorded at their current version, and the cursor after them.

    Runs still going are never returned. At most ``limit`` runs past the cursor per call; the
    look-back window before the cursor adds runs committed late.
    """
    since = datetime.fromtimestamp(cursor.updated_after, tz=timezone.utc)
    new = list(_finished(instance, since, None, limit))
    late = (
        _finished(instance, since - LATE_WINDOW, since + timedelta(microseconds=1), limit)
        if cursor.updated_after
        else []
    )
    candidates = {r.dagster_run.run_id: r for r in [*late, *new]}
    recorded = table.recorded_versions(list(candidates))
    pending = [
        r for run_id, r in candidates.items() if recorded.get(run_id) != utc(r.update_timestamp)
    ]
    newest = max((r.update_timestamp.timestamp() for r in new), default=cursor.updated_after)
    return pending, ScanCursor(max(newest, cursor.updated_after))
