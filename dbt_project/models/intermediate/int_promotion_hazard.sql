with

workforce as (

    select * from {{ ref('int_workforce_start_of_year') }}

),

levels as (

    select * from {{ ref('stg_job_levels') }}

),

promotion_rates as (

    select * from {{ ref('stg_promotion_rates') }}

),

final as (

    select
        workforce.employee_id,
        workforce.simulation_year,
        workforce.level_id,
        levels.next_level_id,
        workforce.tenure_years >= 1 and levels.next_level_id is not null as is_eligible,
        case
            when workforce.tenure_years >= 1 and levels.next_level_id is not null
                then coalesce(promotion_rates.promotion_rate, 0)
            else 0
        end as promotion_rate
    from workforce
    inner join levels
        on workforce.level_id = levels.level_id
    left join promotion_rates
        on workforce.level_id = promotion_rates.level_id

)

select * from final
