with

workforce as (

    select * from {{ ref('int_workforce_start_of_year') }}

),

termination_rates as (

    select * from {{ ref('stg_termination_rates') }}

),

parameters as (

    select retirement_age from {{ ref('stg_simulation_parameters') }}

),

final as (

    select
        workforce.employee_id,
        workforce.simulation_year,
        workforce.age,
        workforce.tenure_years,
        workforce.tenure_band,
        workforce.age >= parameters.retirement_age as is_retirement,
        case
            when workforce.age >= parameters.retirement_age then cast(1 as decimal(9, 6))
            else termination_rates.termination_rate
        end as termination_rate
    from workforce
    cross join parameters
    left join termination_rates
        on workforce.tenure_band = termination_rates.tenure_band

)

select * from final
