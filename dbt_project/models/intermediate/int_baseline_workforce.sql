with

census as (

    select * from {{ ref('stg_census') }}

),

parameters as (

    select start_year from {{ ref('stg_simulation_parameters') }}

),

active_at_start as (

    select
        census.*,
        make_date(parameters.start_year, 1, 1) as as_of_date
    from census
    cross join parameters
    where census.hire_date <= make_date(parameters.start_year, 1, 1)
        and (
            census.termination_date is null
            or census.termination_date >= make_date(parameters.start_year, 1, 1)
        )

),

final as (

    select
        employee_id,
        level_id,
        department,
        annual_salary,
        birth_date,
        hire_date,
        {{ full_years_between('birth_date', 'as_of_date') }} as age,
        {{ full_years_between('hire_date', 'as_of_date') }} as tenure_years
    from active_at_start

)

select * from final
