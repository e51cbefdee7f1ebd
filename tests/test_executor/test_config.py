"""Config is checked at launch, errors name the field and range, the env default is read then."""

from typing import Any

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterInvalidConfigError

from orch_assets.executor.config import (
    ADAPTIVE_CONFIG_SCHEMA,
    AdaptiveConfigError,
    auto_max_concurrent,
    settings_from_config,
)
from tests.test_executor import jobs
from tests.test_executor.support import events_of, run, run_failure_text

INVALID: list[tuple[dict[str, Any], str]] = [
    ({"max_concurrent": 0}, "'max_concurrent' must be an integer from 1 to 16 or 'auto', got 0"),
    ({"max_concurrent": 17}, "'max_concurrent' must be an integer from 1 to 16 or 'auto', got 17"),
    (
        {"max_concurrent": "lots"},
        "'max_concurrent' must be an integer from 1 to 16 or 'auto', got 'lots'",
    ),
    (
        {"memory_pause_percent": 150},
        "'memory_pause_percent' must be a number from 1 to 100, got 150",
    ),
    (
        {"memory_pause_percent": 60, "memory_resume_percent": 60},
        "'memory_resume_percent' must be below memory_pause_percent (60), got 60.0",
    ),
    ({"memory_per_step_gb": 0}, "'memory_per_step_gb' must be a number from 0.01 to 4096, got 0"),
    (
        {"cpu_saturation_percent": 0},
        "'cpu_saturation_percent' must be a number from 1 to 100, got 0",
    ),
    (
        {"memory_pressure_pause": 0},
        "'memory_pressure_pause' must be a number from 0.01 to 100, got 0",
    ),
    ({"step_timeout_s": -1}, "'step_timeout_s' must be a number from 0.1 to 604800, got -1"),
    ({"sample_interval_s": 0}, "'sample_interval_s' must be a number from 0.05 to 10, got 0"),
    (
        {"class_limits": {"sequential": 0}},
        "'class_limits.sequential' must be an integer >= 1 or null (up to the live cap), got 0",
    ),
]


@pytest.mark.parametrize(
    ("config", "message"),
    INVALID,
    ids=[next(iter(config)) + "-" + str(i) for i, (config, _) in enumerate(INVALID)],
)
def test_an_out_of_range_value_is_rejected_naming_the_field_and_range(
    config: dict[str, Any], message: str
) -> None:
    defaults = {
        "memory_pause_percent": 80.0,
        "memory_resume_percent": 70.0,
        "sample_interval_s": 0.5,
    }
    with pytest.raises(AdaptiveConfigError, match="Invalid adaptive executor config") as raised:
        settings_from_config({**defaults, **config})
    assert message in str(raised.value)


def test_an_invalid_value_fails_the_run_at_launch_before_any_step(
    executor_instance: DagsterInstance,
) -> None:
    result = run(executor_instance, jobs.wide_sleep_job, {"max_concurrent": 40})

    assert not result.success
    assert not events_of(executor_instance, result.run_id, DagsterEventType.STEP_START)
    assert "'max_concurrent' must be an integer from 1 to 16 or 'auto', got 40" in run_failure_text(
        executor_instance, result.run_id
    )


def test_an_unknown_mode_is_rejected_by_dagster_config_validation(
    executor_instance: DagsterInstance,
) -> None:
    with pytest.raises(DagsterInvalidConfigError, match="mode"):
        run(executor_instance, jobs.wide_sleep_job, {"mode": "fibers"})


def test_orch_max_concurrent_is_read_at_launch_not_at_import(
    executor_instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_MAX_CONCURRENT", "3")
    result = run(executor_instance, jobs.wide_sleep_job)

    assert result.success
    run_tags = executor_instance.get_run_by_id(result.run_id).tags  # type: ignore[union-attr]
    assert run_tags["orch/max_concurrent"] == "3"


def test_an_invalid_orch_max_concurrent_names_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCH_MAX_CONCURRENT", "99")
    with pytest.raises(
        AdaptiveConfigError, match=r"'max_concurrent \(from ORCH_MAX_CONCURRENT\)' must be"
    ):
        settings_from_config(
            {"memory_pause_percent": 80.0, "memory_resume_percent": 70.0, "sample_interval_s": 0.5}
        )


@pytest.mark.parametrize(
    ("mode", "configured", "expected"),
    [
        ("thread", "auto", auto_max_concurrent("thread")),
        ("process", None, auto_max_concurrent("process")),
        ("sequential", 8, 1),
        ("thread", "5", 5),
    ],
    ids=["auto-threads", "unset-processes-is-auto", "sequential-is-always-one", "numeric-string"],
)
def test_max_concurrent_resolves_per_mode(
    mode: str, configured: object, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORCH_MAX_CONCURRENT", raising=False)
    settings = settings_from_config(
        {"mode": mode, "max_concurrent": configured, "memory_pause_percent": 80.0,
         "memory_resume_percent": 70.0, "sample_interval_s": 0.5}
    )  # fmt: skip
    assert settings.max_concurrent == expected
    assert 1 <= settings.max_concurrent <= 16


def test_the_schema_documents_every_field() -> None:
    assert all(field.description for field in ADAPTIVE_CONFIG_SCHEMA.values())
