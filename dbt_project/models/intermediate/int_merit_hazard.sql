with

compensation_bands as (

    select * from {{ ref('int_compensation_bands') }}

),

merit_matrix as (

    select * from {{ ref('stg_merit_matrix') }}

),

parameters as (

    select merit_pct from {{ ref('stg_simulation_parameters') }}

),

final as (

    select
        compensation_bands.employee_id,
        compensation_bands.simulation_year,
        compensation_bands.band_position,
        merit_matrix.merit_multiplier,
        cast(parameters.merit_pct * merit_matrix.merit_multiplier as decimal(9, 6)) as merit_increase_pct
    from compensation_bands
    cross join parameters
    left join merit_matrix
        on compensation_bands.band_position = merit_matrix.band_position

)

select * from final
