with

source as (

    select * from {{ ref('merit_matrix') }}

),

renamed as (

    select
        band_position,
        cast(min_compa_ratio as decimal(9, 4)) as min_compa_ratio,
        cast(max_compa_ratio as decimal(9, 4)) as max_compa_ratio,
        cast(merit_multiplier as decimal(9, 4)) as merit_multiplier
    from source

)

select * from renamed
