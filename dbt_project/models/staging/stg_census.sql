{#-
    The census is either a CSV given by var census_file (columns employee_id, birth_date,
    hire_date, termination_date, level_id, department, annual_salary; termination_date may
    be left out) or, when census_file is empty, n_employees employees generated from md5
    draws keyed on the employee id, start_year and random_seed.
-#}
{%- set start_year = integer_var('start_year') -%}
{%- set census_file = file_path_var('census_file') -%}
-- depends_on: {{ ref('stg_job_levels') }}
-- depends_on: {{ ref('stg_departments') }}

with

{% if census_file %}

source as (

    select *
    from (
        select
            cast(null as varchar) as employee_id,
            cast(null as varchar) as birth_date,
            cast(null as varchar) as hire_date,
            cast(null as varchar) as termination_date,
            cast(null as varchar) as level_id,
            cast(null as varchar) as department,
            cast(null as varchar) as annual_salary
        where false
    )
    union all by name
    select *
    from read_csv({{ census_file }}, header = true, all_varchar = true)

),

{% else %}

employee_ids as (

    select
        'E' || {{ padded_number('i', 7) }} as employee_id,
        make_date({{ start_year }}, 1, 1) as census_date
    from range(1, {{ integer_var('n_employees') }} + 1) as ids(i)

),

draws as (

    select
        employee_id,
        census_date,
        {{ random_uniform('employee_id', "'census_birth_date'", start_year) }} as birth_date_draw,
        {{ random_uniform('employee_id', "'census_hire_date'", start_year) }} as hire_date_draw,
        {{ random_uniform('employee_id', "'census_level'", start_year) }} as level_draw,
        {{ random_uniform('employee_id', "'census_department'", start_year) }} as department_draw,
        {{ random_uniform('employee_id', "'census_salary'", start_year) }} as salary_draw
    from employee_ids

),

births as (

    select
        *,
        {{ random_date_between(
            "census_date - interval 65 years + interval 1 day",
            "census_date - interval 22 years",
            "birth_date_draw"
        ) }} as birth_date
    from draws

),

hire_windows as (

    select
        *,
        cast(greatest(census_date - interval 30 years, birth_date + interval 18 years) as date) as earliest_hire_date,
        census_date - 1 as latest_hire_date
    from births

),

source as (

    select
        hire_windows.employee_id,
        hire_windows.birth_date,
        hire_windows.latest_hire_date
            - cast(floor(
                hire_windows.hire_date_draw * hire_windows.hire_date_draw
                * (date_diff('day', hire_windows.earliest_hire_date, hire_windows.latest_hire_date) + 1)
            ) as integer) as hire_date,
        cast(null as date) as termination_date,
        levels.level_id,
        departments.department_id as department,
        round(levels.min_salary + (levels.max_salary - levels.min_salary) * hire_windows.salary_draw, 0) as annual_salary
    from hire_windows
    inner join {{ ref('stg_job_levels') }} as levels
        on hire_windows.level_draw >= levels.census_share_from
        and hire_windows.level_draw < levels.census_share_to
    inner join {{ ref('stg_departments') }} as departments
        on hire_windows.department_draw >= departments.headcount_share_from
        and hire_windows.department_draw < departments.headcount_share_to

),

{% endif %}

renamed as (

    select
        cast(employee_id as varchar) as employee_id,
        cast(birth_date as date) as birth_date,
        cast(hire_date as date) as hire_date,
        cast(termination_date as date) as termination_date,
        cast(level_id as integer) as level_id,
        cast(department as varchar) as department,
        cast(annual_salary as decimal(18, 2)) as annual_salary
    from source

)

select * from renamed
