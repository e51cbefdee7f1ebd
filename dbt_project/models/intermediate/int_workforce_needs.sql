with

workforce as (

    select count(*) as headcount_start from {{ ref('int_workforce_start_of_year') }}

),

hazard as (

    select sum(termination_rate) as expected_experienced_terminations from {{ ref('int_termination_hazard') }}

),

terminations as (

    select count(*) as experienced_terminations from {{ ref('int_termination_events') }}

),

parameters as (

    select * from {{ ref('stg_simulation_parameters') }}

),

targets as (

    select
        parameters.simulation_year,
        workforce.headcount_start,
        cast(coalesce(hazard.expected_experienced_terminations, 0) as decimal(18, 2)) as expected_experienced_terminations,
        terminations.experienced_terminations,
        workforce.headcount_start - terminations.experienced_terminations as survivors,
        parameters.growth_rate,
        cast(round(workforce.headcount_start * (1 + parameters.growth_rate), 0) as bigint) as target_headcount_end,
        parameters.new_hire_termination_rate,
        1000000 - cast(parameters.new_hire_termination_rate * 1000000 as bigint) as new_hire_retention_ppm
    from workforce
    cross join hazard
    cross join terminations
    cross join parameters

),

final as (

    select
        simulation_year,
        headcount_start,
        expected_experienced_terminations,
        experienced_terminations,
        survivors,
        growth_rate,
        target_headcount_end,
        new_hire_termination_rate,
        case
            when target_headcount_end > survivors
                then ((target_headcount_end - survivors) * 1000000 + new_hire_retention_ppm - 1) // new_hire_retention_ppm
            else 0
        end as hires_needed
    from targets

)

select * from final
