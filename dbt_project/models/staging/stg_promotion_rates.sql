with

source as (

    {% for level_id, promotion_rate in var('promotion_rates').items() -%}
    select
        '{{ level_id }}' as level_id,
        '{{ promotion_rate }}' as promotion_rate
    {% if not loop.last %}union all
    {% endif -%}
    {%- endfor %}

),

renamed as (

    select
        cast(level_id as integer) as level_id,
        cast(promotion_rate as decimal(9, 6)) as promotion_rate
    from source

)

select * from renamed
