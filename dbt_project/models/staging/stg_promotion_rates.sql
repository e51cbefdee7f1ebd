with

source as (

    {{- rate_rows('promotion_rates', 'level_id', 'promotion_rate', '[0-9]+') }}

),

renamed as (

    select
        cast(level_id as integer) as level_id,
        cast(promotion_rate as decimal(9, 6)) as promotion_rate
    from source

)

select * from renamed
