{#-
    Reads fct_workforce_snapshot by name (a ref would be a cycle). In the start year, or at
    parse time, the model has the same columns and no rows. A later year whose previous year
    is missing fails here, before anything is written.
-#}
{%- set snapshot = workforce_snapshot_relation() -%}
{%- set reads_snapshot = integer_var('simulation_year') > integer_var('start_year') -%}
{%- set previous_year = integer_var('simulation_year') - 1 -%}
{%- if execute and reads_snapshot -%}
    {%- set previous_rows = 0 if snapshot is none else run_query(
        "select count(*) from " ~ snapshot ~ " where simulation_year = " ~ previous_year
    ).columns[0].values()[0] -%}
    {%- if previous_rows == 0 -%}
        {{ exceptions.raise_compiler_error(
            "simulation_year " ~ integer_var('simulation_year') ~ " starts from year " ~ previous_year
            ~ " of fct_workforce_snapshot, which has no rows: build the years in order from start_year "
            ~ integer_var('start_year')
        ) }}
    {%- endif -%}
{%- endif -%}

with

{% if reads_snapshot and snapshot is not none %}

source as (

    select
        employee_id,
        simulation_year,
        level_id,
        department,
        annual_salary,
        birth_date,
        hire_date
    from {{ snapshot }}
    where simulation_year = {{ previous_year }}
        and status = 'active'

),

{% else %}

source as (

    select
        cast(null as varchar) as employee_id,
        cast(null as integer) as simulation_year,
        cast(null as integer) as level_id,
        cast(null as varchar) as department,
        cast(null as decimal(18, 2)) as annual_salary,
        cast(null as date) as birth_date,
        cast(null as date) as hire_date
    where false

),

{% endif %}

renamed as (

    select
        cast(employee_id as varchar) as employee_id,
        cast(simulation_year as integer) as snapshot_year,
        cast(level_id as integer) as level_id,
        cast(department as varchar) as department,
        cast(annual_salary as decimal(18, 2)) as annual_salary,
        cast(birth_date as date) as birth_date,
        cast(hire_date as date) as hire_date
    from source

)

select * from renamed
