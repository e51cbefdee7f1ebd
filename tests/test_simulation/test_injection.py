"""SQL in a run option or a scenario file is refused at launch, in one line naming the field.

Every string-valued option that reaches dbt (the keys of termination_rates and promotion_rates,
census_file) and every scenario key gets the same attempts: a quote, ``union select``, ``;``, a
``--`` comment and ``read_text(``. None of these tests runs a simulation: the launch refuses.
(dbt's own refusal of such vars is in tests/test_dbt/test_safe_vars.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import dagster as dg
import pytest
import yaml

from orch_assets.config import SimulationConfig, SimulationConfigError
from orch_assets.scenarios import ScenarioError, load_scenarios
from tests.test_simulation.helpers import database, run_simulation

PAYLOADS = {
    "quote": "10+'",
    "union-select": "10+' as tenure_band, 0.05 as termination_rate union select 'x', 1 --",
    "semicolon": "1; drop table fct_workforce_snapshot",
    "comment": "5 -- ",
    "read-text": "10+' union all select (select content from read_text('/etc/hostname')) || '",
}
FIELDS: dict[str, Any] = {
    "termination_rates": lambda p: {"termination_rates": {p: 0.05}},
    "promotion_rates": lambda p: {"promotion_rates": {p: 0.1}},
    "census_file": lambda p: {"census_file": p},
}
EXPECTED = {
    "termination_rates": r"termination_rates has the key .*; allowed keys: 0-1, 1-3, 3-5, 5-10, 10\+$",
    "promotion_rates": r"promotion_rates has the key .*; allowed keys: 1, 2, 3, 4, 5$",
    "census_file": r"census_file .* does not exist$",
}
CASES = [(field, payload) for field in FIELDS for payload in PAYLOADS]
IDS = [f"{field}-{name}" for field in FIELDS for name in PAYLOADS]


@pytest.fixture(scope="module")
def launch_instance() -> Iterator[dg.DagsterInstance]:
    """One instance for every refused launch: none of them may create a run in it."""
    with dg.instance_for_test() as instance:
        yield instance


@pytest.mark.parametrize(("field", "payload"), [(f, PAYLOADS[p]) for f, p in CASES], ids=IDS)
def test_sql_in_a_run_option_is_refused_at_launch_in_one_line_naming_the_field(
    launch_instance: dg.DagsterInstance, tmp_path: Path, field: str, payload: str
) -> None:
    instance = launch_instance
    with pytest.raises(dg.DagsterError) as raised:
        run_simulation(instance, tmp_path, **FIELDS[field](payload))

    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"Invalid workforce_simulation config: {field}")
    assert raised.match(EXPECTED[field])
    assert instance.get_runs() == [], "no run is created"
    assert not database(tmp_path).exists()


def _scenario(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "attack.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


SCENARIO_FIELDS: dict[str, Any] = {
    "name": (lambda p: {"name": p}, r"name: must match"),
    "parameter-name": (lambda p: {"name": "ok", "parameters": {p: 0.1}}, r"unknown parameter"),
    **{
        field: (lambda p, field=field: {"name": "ok", "parameters": FIELDS[field](p)},
                rf"parameters\.{field}: {EXPECTED[field]}")
        for field in FIELDS
    },
}  # fmt: skip
SCENARIO_CASES = [(field, payload) for field in SCENARIO_FIELDS for payload in PAYLOADS]
SCENARIO_IDS = [f"{field}-{name}" for field in SCENARIO_FIELDS for name in PAYLOADS]


@pytest.mark.parametrize(
    ("field", "payload"), [(f, PAYLOADS[p]) for f, p in SCENARIO_CASES], ids=SCENARIO_IDS
)
def test_sql_in_a_scenario_file_fails_the_load_in_one_line_naming_file_and_field(
    tmp_path: Path, field: str, payload: str
) -> None:
    document, expected = SCENARIO_FIELDS[field]
    path = _scenario(tmp_path, document(payload))

    with pytest.raises(ScenarioError, match=expected) as raised:
        load_scenarios(tmp_path)

    assert "\n" not in str(raised.value)
    assert str(path) in str(raised.value)


def test_a_census_file_named_with_quotes_and_a_comment_is_accepted_as_that_path(
    tmp_path: Path,
) -> None:
    census = tmp_path / "o'brien; -- census.csv"
    census.write_text("employee_id\n")

    config = SimulationConfig(census_file=str(census))

    assert config.dbt_vars()["census_file"] == str(census.resolve())


@pytest.mark.parametrize(
    ("value", "message"),
    [("{dir}", r"census_file '.*' is a directory, not a CSV file"),
     ("{dir}/*.csv", r"census_file .* must name one file: .*glob characters \* \? \[ \]"),
     ("{dir}/census[1].csv", r"census_file .* must name one file"),
     ("{dir}/a\nb.csv", r"census_file .* must name one file: no control characters")],
    ids=["directory", "glob-star", "glob-brackets", "newline"],
)  # fmt: skip
def test_a_census_file_that_is_not_one_plain_file_is_refused_naming_the_reason(
    tmp_path: Path, value: str, message: str
) -> None:
    (tmp_path / "census[1].csv").write_text("employee_id\n")

    with pytest.raises(ValueError, match=message):
        SimulationConfig(census_file=value.format(dir=tmp_path))


@pytest.mark.parametrize(
    ("option", "partial", "key", "default"),
    [("termination_rates", {"0-1": 0.3}, "10+", 0.05),
     ("promotion_rates", {1: 0.3}, "5", 0.0)],
    ids=["termination-band", "promotion-level-as-integer"],
)  # fmt: skip
def test_a_partial_rates_mapping_keeps_the_project_default_of_every_other_key(
    option: str, partial: dict, key: str, default: float
) -> None:
    rates = SimulationConfig(**{option: partial}).dbt_vars()[option]

    assert rates[str(next(iter(partial)))] == 0.3
    assert rates[key] == default
    assert len(rates) == 5


@pytest.mark.parametrize(
    ("rates", "message"),
    [({"0-1": "0.2"}, r"termination_rates\['0-1'\] must be a number from 0 to 1, got '0.2'"),
     ({"0-1": True}, r"termination_rates\['0-1'\] must be a number from 0 to 1, got True"),
     ({"0-1": float("nan")}, r"termination_rates\['0-1'\] must be between 0.0 and 1.0, got nan")],
    ids=["text", "boolean", "nan"],
)  # fmt: skip
def test_a_rate_that_is_not_a_number_in_range_is_refused(rates: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulationConfig(termination_rates=rates)


@pytest.mark.parametrize(
    ("config", "message"),
    [({"n_employees": "abc"}, r'Invalid scalar at path root:n_employees\. Value "abc"'),
     ({"termination_rates": {"0-1": "0.2' --"}}, r"root:termination_rates:'0-1':value"),
     ({"tables": "x; drop table t"}, r'unexpected config entry "tables" at the root')],
    ids=["text-for-an-integer", "text-for-a-rate", "unknown-option"],
)  # fmt: skip
def test_a_value_of_the_wrong_type_is_a_one_line_launch_error_too(
    launch_instance: dg.DagsterInstance, tmp_path: Path, config: dict, message: str
) -> None:
    with pytest.raises(SimulationConfigError) as raised:
        run_simulation(launch_instance, tmp_path, **config)

    assert isinstance(raised.value, click.ClickException), "the dagster CLI prints one line"
    assert "\n" not in str(raised.value)
    assert str(raised.value).startswith("Invalid workforce_simulation config: ")
    assert raised.match(message)
    assert launch_instance.get_runs() == []
