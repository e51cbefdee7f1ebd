"""The gated resource's own settings, which govern under any executor but the adaptive one."""

import pytest
from dagster_dbt.compat import DBT_PYTHON_VERSION

from orch_assets.dbt import GatedDbtCliResource
from orch_assets.dbt.resource import describe_gate
from tests.test_examples.shop_support import SHOP_DIR


def test_outside_the_adaptive_executor_the_resources_limits_and_cap_apply_over_the_defaults() -> (
    None
):
    resource = GatedDbtCliResource(
        project_dir=SHOP_DIR, class_limits={"parallel_safe": 2}, max_concurrent=3
    )
    settings = resource.gate_settings(None)
    assert settings["class_limits"] == {"sequential": 1, "conditional": 2, "parallel_safe": 2}
    assert settings["cap"] == 3
    assert describe_gate(settings).startswith(
        "dbt models gated by execution class (sequential 1, conditional 2, parallel_safe 2; "
        "from the resource's class_limits), live cap 3 at start"
    )


@pytest.mark.parametrize(
    ("pause_percent", "expected_cap"), [(1.0, 1), (100.0, 5)], ids=["memory-above", "memory-below"]
)
def test_memory_pause_percent_drops_the_cap_to_one_from_real_psutil_readings(
    pause_percent: float, expected_cap: int
) -> None:
    resource = GatedDbtCliResource(
        project_dir=SHOP_DIR, max_concurrent=5, memory_pause_percent=pause_percent
    )
    cap = resource._cap_source(None)  # noqa: SLF001
    assert cap is not None and cap() == expected_cap


def test_an_unknown_default_class_is_refused_when_the_resource_is_built() -> None:
    with pytest.raises(
        ValueError,
        match=r"GatedDbtCliResource\.default_execution_class has execution_class 'fast'",
    ):
        GatedDbtCliResource(project_dir=SHOP_DIR, default_execution_class="fast")


def test_the_dbt_version_of_orch_dbt_comes_without_a_dbt_subprocess(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_subprocess(*args: object, **kwargs: object) -> bytes:
        raise AssertionError(f"subprocess started: {args}")

    monkeypatch.setattr("dagster_dbt.core.resource.check_output", no_subprocess)
    resource = GatedDbtCliResource(project_dir=SHOP_DIR)
    assert resource._cli_version == DBT_PYTHON_VERSION  # noqa: SLF001
