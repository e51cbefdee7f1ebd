"""Checks a census CSV row by row before the simulation starts, naming the offending rows.

dbt's tests on ``stg_census`` name a failing test, not a row, and some rows pass them and still
go wrong: a hire date after the census date (``start_year``-01-01) drops the employee from the
baseline without a word. This check reads the file with DuckDB (the path and every value passed
as parameters, never as SQL text), the way ``stg_census`` casts it, and fails with the file, the
line and the employee id of the first offending rows, in one line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import duckdb

from orch_assets.parameters import department_ids, level_ids

REQUIRED_COLUMNS = (
    "employee_id",
    "birth_date",
    "hire_date",
    "level_id",
    "department",
    "annual_salary",
)
OPTIONAL_COLUMNS = ("termination_date",)
SHOWN_ROWS = 3

# The first rule a row breaks, in this order; the SQL only names the rule.
_RULES = """
select line, employee_id, birth_date, hire_date, termination_date, level_id, department,
       annual_salary,
       case
           when employee_id is null or trim(employee_id) = '' then 'no_id'
           when line > first_line then 'duplicate_id'
           when birth is null then 'birth_date'
           when hired is null then 'hire_date'
           when termination_date is not null and left_on is null then 'termination_date'
           when not coalesce(list_contains($levels, try_cast(level_id as integer)), false)
               then 'level_id'
           when not coalesce(list_contains($departments, department), false) then 'department'
           when salary is null then 'salary_not_a_number'
           when salary <= 0 then 'salary_not_positive'
           when hired > $census_date then 'future_hire'
           when left_on < hired then 'left_before_hired'
           when birth >= hired then 'born_after_hired'
       end as rule,
       first_line
from (
    select *,
           try_cast(birth_date as date) as birth,
           try_cast(hire_date as date) as hired,
           try_cast(termination_date as date) as left_on,
           try_cast(annual_salary as decimal(18, 2)) as salary,
           min(line) over (partition by employee_id) as first_line
    from census
)
"""


def _describe(rule: str, row: Mapping[str, Any], census_date: dt.date) -> str:
    messages: dict[str, Callable[[], str]] = {
        "no_id": lambda: "employee_id is missing",
        "duplicate_id": lambda: f"employee_id is also on line {row['first_line']}",
        "birth_date": lambda: f"birth_date {row['birth_date']!r} is not a date (YYYY-MM-DD)",
        "hire_date": lambda: f"hire_date {row['hire_date']!r} is not a date (YYYY-MM-DD)",
        "termination_date": lambda: (
            f"termination_date {row['termination_date']!r} is not a date (YYYY-MM-DD)"
        ),
        "level_id": lambda: f"level_id {row['level_id']!r} is not one of {', '.join(level_ids())}",
        "department": lambda: (
            f"department {row['department']!r} is not one of {', '.join(department_ids())}"
        ),
        "salary_not_a_number": lambda: f"annual_salary {row['annual_salary']!r} is not a number",
        "salary_not_positive": lambda: f"annual_salary {row['annual_salary']} is not positive",
        "future_hire": lambda: (
            f"hire_date {row['hire_date']} is after the census date {census_date} "
            "(start_year-01-01)"
        ),
        "left_before_hired": lambda: (
            f"termination_date {row['termination_date']} is before hire_date {row['hire_date']}"
        ),
        "born_after_hired": lambda: (
            f"birth_date {row['birth_date']} is not before hire_date {row['hire_date']}"
        ),
    }
    return messages[rule]()


def _is_empty(path: Path) -> bool:
    """No bytes, or only blank lines: DuckDB's CSV sniffer would fail with its own words."""
    with path.open("rb") as file:
        while chunk := file.read(64 * 1024):
            if chunk.strip():
                return False
    return True


class CensusError(ValueError):
    """The census file cannot be used; the message is one line naming the file and rows."""


def check_census(path: Path, start_year: int) -> int:
    """Returns the number of rows; raises CensusError on the first offending rows."""
    census_date = dt.date(start_year, 1, 1)
    con = duckdb.connect()
    try:
        # One thread: rows are numbered in file order.
        con.execute("set threads = 1")
        if _is_empty(path):
            raise CensusError(
                f"census_file {path} is empty; a census has a header line with the columns "
                f"{', '.join(REQUIRED_COLUMNS)} and one line per employee"
            )
        try:
            source = con.read_csv(str(path), header=True, all_varchar=True)
            source.create_view("source")
            columns = set(source.columns)
        except duckdb.Error as error:
            first_line = str(error).strip().splitlines()[0]
            raise CensusError(f"census_file {path} cannot be read as CSV: {first_line}") from None
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise CensusError(
                f"census_file {path} lacks the columns {', '.join(missing)}; a census has the "
                f"columns {', '.join(REQUIRED_COLUMNS)} and optionally {', '.join(OPTIONAL_COLUMNS)}"
            )
        optional = ", ".join(
            c if c in columns else f"cast(null as varchar) as {c}" for c in OPTIONAL_COLUMNS
        )
        con.execute(
            "create temp view census as select row_number() over () + 1 as line, "
            f"{', '.join(REQUIRED_COLUMNS)}, {optional} from source"
        )
        rows = con.execute("select count(*) from census").fetchall()[0][0]
        if rows == 0:
            raise CensusError(f"census_file {path} has no rows")
        parameters = {
            "levels": [int(level) for level in level_ids()],
            "departments": list(department_ids()),
            "census_date": census_date,
        }
        cursor = con.execute(
            f"select *, count(*) over () as total from ({_RULES}) where rule is not null "
            f"order by line limit {SHOWN_ROWS}",
            parameters,
        )
        names = [d[0] for d in cursor.description or []]
        offending = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        if offending:
            total = offending[0]["total"]
            shown = "; ".join(
                f"line {r['line']} (employee_id {r['employee_id']!r}): "
                f"{_describe(r['rule'], r, census_date)}"
                for r in offending
            )
            more = (
                f"; and {total - len(offending)} more offending rows" if total > SHOWN_ROWS else ""
            )
            raise CensusError(f"census_file {path}: {shown}{more}")
        return rows
    finally:
        con.close()
