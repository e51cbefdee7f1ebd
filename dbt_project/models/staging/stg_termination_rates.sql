with

source as (

    {% for tenure_band, termination_rate in var('termination_rates').items() -%}
    select
        '{{ tenure_band }}' as tenure_band,
        '{{ termination_rate }}' as termination_rate
    {% if not loop.last %}union all
    {% endif -%}
    {%- endfor %}

),

renamed as (

    select
        tenure_band,
        cast(nullif(regexp_extract(tenure_band, '^(\d+)(-\d+|\+)$', 1), '') as integer) as min_tenure_years,
        cast(nullif(regexp_extract(tenure_band, '^\d+-(\d+)$', 1), '') as integer) as max_tenure_years,
        cast(termination_rate as decimal(9, 6)) as termination_rate
    from source

)

select * from renamed
