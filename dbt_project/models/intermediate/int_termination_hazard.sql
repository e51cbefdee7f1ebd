with

workforce as (

    select * from {{ ref('int_workforce_start_of_year') }}

),

termination_rates as (

    select * from {{ ref('stg_termination_rates') }}

),

final as (

    select
        workforce.employee_id,
        workforce.simulation_year,
        workforce.tenure_years,
        workforce.tenure_band,
        termination_rates.termination_rate
    from workforce
    left join termination_rates
        on workforce.tenure_band = termination_rates.tenure_band

)

select * from final
