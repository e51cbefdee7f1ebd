-- depends_on: {{ ref('int_baseline_workforce') }}
-- depends_on: {{ ref('int_previous_year_snapshot') }}

with

{% if integer_var('simulation_year') == integer_var('start_year') %}

source as (

    select employee_id, level_id, department, annual_salary, birth_date, hire_date
    from {{ ref('int_baseline_workforce') }}

),

{% else %}

source as (

    select employee_id, level_id, department, annual_salary, birth_date, hire_date
    from {{ ref('int_previous_year_snapshot') }}

),

{% endif %}

parameters as (

    select simulation_year, year_start_date from {{ ref('stg_simulation_parameters') }}

),

tenure_bands as (

    select * from {{ ref('stg_termination_rates') }}

),

aged as (

    select
        source.employee_id,
        parameters.simulation_year,
        source.level_id,
        source.department,
        source.annual_salary,
        source.birth_date,
        source.hire_date,
        {{ full_years_between('source.birth_date', 'parameters.year_start_date') }} as age,
        {{ full_years_between('source.hire_date', 'parameters.year_start_date') }} as tenure_years
    from source
    cross join parameters

),

final as (

    select
        aged.*,
        tenure_bands.tenure_band
    from aged
    left join tenure_bands
        on aged.tenure_years >= tenure_bands.min_tenure_years
        and (tenure_bands.max_tenure_years is null or aged.tenure_years < tenure_bands.max_tenure_years)

)

select * from final
