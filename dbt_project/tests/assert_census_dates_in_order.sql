{#-
    Census rows whose dates cannot be: hired after the census date (start_year-01-01; the
    employee would silently be left out of the baseline), terminated before being hired, or
    born on or after the hire date. The census is read in start_year only, so the test checks
    it then. (orch_assets checks a census_file row by row before dbt starts; this test guards
    runs of the dbt project by hand.)
-#}
-- depends_on: {{ ref('stg_census') }}
{% if integer_var('simulation_year') == integer_var('start_year') %}

select
    employee_id,
    birth_date,
    hire_date,
    termination_date
from {{ ref('stg_census') }}
where hire_date > make_date({{ integer_var('start_year') }}, 1, 1)
    or termination_date < hire_date
    or birth_date >= hire_date

{% else %}

select cast(null as varchar) as employee_id
where false

{% endif %}
