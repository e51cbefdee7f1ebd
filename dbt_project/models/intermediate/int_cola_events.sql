with

workforce as (

    select * from {{ ref('int_workforce_start_of_year') }}

),

parameters as (

    select * from {{ ref('stg_simulation_parameters') }}

),

final as (

    select
        workforce.employee_id || '_' || parameters.simulation_year || '_cola' as event_id,
        workforce.employee_id,
        parameters.simulation_year,
        'cola' as event_type,
        parameters.cola_effective_date as effective_date,
        workforce.level_id,
        workforce.annual_salary as old_salary,
        cast(workforce.annual_salary * (1 + parameters.cola_pct) as decimal(18, 2)) as new_salary
    from workforce
    cross join parameters
    where parameters.enable_cola
        and parameters.cola_pct > 0

)

select * from final
