"""dbt on its own refuses vars that would change the SQL: anyone can pass ``--vars`` by hand.

One process runs every dbt command with one ``dbtRunner`` against a temporary DuckDB file (see
``dbt_invoke.py``); the tests then read what dbt wrote. Each attack tries to copy the contents
of a file into a table with DuckDB's ``read_text``.
"""

from __future__ import annotations

import csv
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import DBT_PROJECT_DIR
from tests.test_dbt.dbt_invoke import run_in_subprocess

SECRET = "contents-of-a-private-file-5f1c"
STAGING = [
    "stg_termination_rates",
    "stg_promotion_rates",
    "stg_simulation_parameters",
    "stg_census",
]


def _attacks(secret_path: Path) -> dict[str, tuple[dict[str, Any], str]]:
    """name -> (vars, text the error must contain)."""
    leak = f"(select content from read_text('{secret_path}'))"
    return {
        # The attack of issue 9: with the key spliced into SQL, the view held the file.
        "termination-band-key": (
            {"termination_rates": {
                f"10+' as tenure_band, '0.05' as termination_rate union all select {leak} || '": 0.05
            }},
            "var termination_rates has the key",
        ),
        "promotion-level-key": (
            {"promotion_rates": {f"5' as level_id, 0.1 as promotion_rate union all select {leak}, '0": 0.1}},
            "var promotion_rates has the key",
        ),
        "rate-value": (
            {"termination_rates": {"0-1": f"0.2 as termination_rate union all select '10+', {leak} --"}},
            'var termination_rates["0-1"] must be a number',
        ),
        "number-var": (
            {"growth_rate": f"0.03 as growth_rate, {leak} as leaked; --"},
            "var growth_rate must be a number",
        ),
        "integer-var": (
            {"random_seed": f"42; create table leaked as select {leak} as content; --"},
            "var random_seed must be an integer",
        ),
        "census-path": (
            {"census_file": f"x.csv', header = true) union all by name select {leak} as employee_id --"},
            "No files found",
        ),
    }  # fmt: skip


def _census(path: Path, hire_date: str = "2015-03-01") -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["employee_id", "birth_date", "hire_date", "level_id", "department", "annual_salary"]
        )
        writer.writerows(
            [f"E{i}", "1980-05-01", "2015-03-01", 1 + i % 5, "ENG", 60000] for i in range(1, 11)
        )
        writer.writerow(["E99", "1980-05-01", hire_date, 1, "ENG", 60000])
    return path


@pytest.fixture(scope="module")
def dbt_outcomes(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, dict[str, Any]]]:
    """Runs every invocation in one process; returns the DuckDB file and each outcome by name."""
    work = tmp_path_factory.mktemp("safe_vars")
    secret = work / "private.txt"
    secret.write_text(SECRET)
    # Tests only when all their parents are built: the marts are not.
    build = ["build", "--indirect-selection", "cautious", "--select"]
    # json.dumps writes 0.00001 as 1e-05, which dbt's YAML reading of --vars takes for a string.
    rates = {"0-1": 0.2, "1-3": 0.14, "3-5": 0.1, "5-10": 0.07, "10+": 0.00001}
    valid = {"n_employees": 100, "termination_rates": rates}
    invocations = {"valid": [*build, *(f"+{m}" for m in STAGING), "--vars", json.dumps(valid)]}
    for name, (dbt_vars, _) in _attacks(secret).items():
        invocations[name] = [*build, *STAGING, "--vars", json.dumps({**valid, **dbt_vars})]
    future = _census(work / "future.csv", hire_date="2026-02-01")
    invocations["future-hire"] = [
        *build,
        "stg_census",
        "--vars",
        json.dumps({"census_file": str(future)}),
    ]
    # Last: stg_census then reads this file.
    quoted = _census(work / "o'brien; -- census.csv")
    invocations["quoted-census-path"] = [
        "run", "--select", "stg_census", "--vars", json.dumps({"census_file": str(quoted)})
    ]  # fmt: skip
    spec = {
        "project_dir": str(DBT_PROJECT_DIR),
        "target_path": str(work / "target"),
        "invocations": list(invocations.values()),
        "output": str(work / "outcomes.json"),
    }
    outcomes = run_in_subprocess(spec, cwd=work)
    return work / "workforce.duckdb", dict(zip(invocations, outcomes, strict=True))


def _every_value(database: Path) -> list[str]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        relations = con.execute("select table_name from information_schema.tables").fetchall()
        return [
            str(value)
            for (name,) in relations
            for row in con.execute(f'select * from "{name}"').fetchall()
            for value in row
        ]
    finally:
        con.close()


@pytest.mark.parametrize("attack", list(_attacks(Path("x"))), ids=list(_attacks(Path("x"))))
def test_dbt_build_with_an_injected_var_fails_naming_the_var(
    dbt_outcomes: tuple[Path, dict[str, dict[str, Any]]], attack: str
) -> None:
    _, outcomes = dbt_outcomes
    assert outcomes["valid"]["success"], outcomes["valid"]
    outcome = outcomes[attack]
    _, expected = _attacks(Path("x"))[attack]

    assert not outcome["success"]
    errors = " ".join(n for n in outcome["nodes"] if ": error: " in n) + str(outcome["exception"])
    assert expected in errors, outcome
    if attack != "census-path":
        assert "Compilation Error" in errors, "refused before any SQL runs"


def test_no_injected_var_writes_the_file_into_the_database(
    dbt_outcomes: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    database, _ = dbt_outcomes

    values = _every_value(database)

    assert values, "the valid build wrote the staging models"
    assert not [v for v in values if SECRET in v]
    bands = (
        duckdb.connect(str(database), read_only=True)
        .execute(
            "select tenure_band, termination_rate from stg_termination_rates order by min_tenure_years"
        )
        .fetchall()
    )
    assert [b for b, _ in bands] == ["0-1", "1-3", "3-5", "5-10", "10+"], "valid views stay"
    assert bands[-1][1] == Decimal("0.000010"), "a number written 1e-05 is still a number"


def test_a_census_path_with_quotes_and_a_comment_is_read_as_that_file(
    dbt_outcomes: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    database, outcomes = dbt_outcomes

    assert outcomes["quoted-census-path"]["success"], outcomes["quoted-census-path"]
    con = duckdb.connect(str(database), read_only=True)
    try:
        ids = con.execute("select employee_id from stg_census").fetchall()
    finally:
        con.close()
    # stg_census is a table (built once per simulation): its SQL is the last compiled one.
    compiled = database.parent / "target" / "compiled" / "workforce_simulation" / "models"
    definition = (compiled / "staging" / "stg_census.sql").read_text()
    assert len(ids) == 11
    assert "o''brien; -- census.csv" in definition, "the path, quotes doubled, is one literal"


def test_the_census_test_fails_on_a_hire_date_after_the_census_date(
    dbt_outcomes: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    _, outcomes = dbt_outcomes
    outcome = outcomes["future-hire"]

    assert not outcome["success"]
    failed = [n for n in outcome["nodes"] if ": fail: " in n]
    assert len(failed) == 1 and "assert_census_dates_in_order" in failed[0], outcome["nodes"]


def test_every_var_reaches_sql_through_the_checked_macros() -> None:
    """Only macros/safe_vars.sql calls var() for SQL; enable_cola only chooses fixed SQL texts."""
    direct: dict[str, list[str]] = {}
    for folder in ("models", "tests", "macros", "seeds", "snapshots", "analyses"):
        for path in sorted((DBT_PROJECT_DIR / folder).glob("**/*")):
            if path.suffix not in (".sql", ".yml") or path.name == "safe_vars.sql":
                continue
            for name in re.findall(r"\bvar\(\s*['\"](\w+)['\"]", path.read_text()):
                direct.setdefault(name, []).append(str(path.relative_to(DBT_PROJECT_DIR)))

    assert set(direct) <= {"enable_cola"}, direct
