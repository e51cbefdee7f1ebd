"""Runtime history of runs: recording, summaries, the recommendation, charts and sweeps.

Reusable machinery for the sensor (``orch_assets.sensors``) and the report asset
(``orch_assets.assets.runtime_report``); it imports none of the project's assets.
"""

from orch_assets.runtime.recommend import find_recommendation, recommended_threads
from orch_assets.runtime.store import RuntimeStore, RuntimeTable

__all__ = ["RuntimeStore", "RuntimeTable", "find_recommendation", "recommended_threads"]
