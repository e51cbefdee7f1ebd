"""The xdist groups of tests/conftest.py reach the scheduler: pytest 9.2 with pytest-xdist 3.8
dropped them silently, and tests meant to run one after another ran side by side."""

from __future__ import annotations

import os

import pytest

from tests.conftest import FIXTURE_GROUPS


@pytest.mark.xdist_group("daemon")
def test_a_test_of_an_xdist_group_is_scheduled_under_its_group(
    request: pytest.FixtureRequest,
) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER") or not request.config.getvalue("loadgroup"):
        pytest.skip("groups apply only on xdist workers under --dist loadgroup")

    assert request.node.nodeid.endswith("@daemon"), request.node.nodeid


def test_every_collected_test_using_a_grouped_fixture_is_in_that_fixtures_group(
    request: pytest.FixtureRequest,
) -> None:
    users = [
        (item, FIXTURE_GROUPS[name])
        for item in request.session.items
        for name in getattr(item, "fixturenames", ())
        if name in FIXTURE_GROUPS
    ]
    if not users:
        pytest.skip("no test using a grouped fixture was collected")

    for item, group in users:
        marker = item.get_closest_marker("xdist_group")
        assert marker is not None and marker.args == (group,), item.nodeid
