with

source as (

    {{- rate_rows('termination_rates', 'tenure_band', 'termination_rate', '[0-9]+(-[0-9]+|[+])') }}

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
