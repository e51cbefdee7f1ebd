with

source as (

    select * from {{ ref('job_levels') }}

),

renamed as (

    select
        cast(level_id as integer) as level_id,
        level_name,
        cast(min_salary as decimal(18, 2)) as min_salary,
        cast(mid_salary as decimal(18, 2)) as mid_salary,
        cast(max_salary as decimal(18, 2)) as max_salary,
        cast(census_weight as integer) as census_weight,
        cast(hire_weight as integer) as hire_weight
    from source

),

final as (

    select
        *,
        lead(level_id) over (order by level_id) as next_level_id,
        cast(sum(census_weight) over (order by level_id) - census_weight as double)
            / sum(census_weight) over () as census_share_from,
        cast(sum(census_weight) over (order by level_id) as double)
            / sum(census_weight) over () as census_share_to,
        cast(sum(hire_weight) over (order by level_id) - hire_weight as double)
            / sum(hire_weight) over () as hire_share_from,
        cast(sum(hire_weight) over (order by level_id) as double)
            / sum(hire_weight) over () as hire_share_to
    from renamed

)

select * from final
