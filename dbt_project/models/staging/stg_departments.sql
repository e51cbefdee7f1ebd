with

source as (

    select * from {{ ref('departments') }}

),

renamed as (

    select
        cast(department_id as varchar) as department_id,
        department_name,
        cast(headcount_weight as integer) as headcount_weight
    from source

),

final as (

    select
        *,
        cast(sum(headcount_weight) over (order by department_id) - headcount_weight as double)
            / sum(headcount_weight) over () as headcount_share_from,
        cast(sum(headcount_weight) over (order by department_id) as double)
            / sum(headcount_weight) over () as headcount_share_to
    from renamed

)

select * from final
