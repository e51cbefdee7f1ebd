with

workforce as (

    select * from {{ ref('int_workforce_start_of_year') }}

),

levels as (

    select * from {{ ref('stg_job_levels') }}

),

merit_matrix as (

    select * from {{ ref('stg_merit_matrix') }}

),

compared as (

    select
        workforce.employee_id,
        workforce.simulation_year,
        workforce.level_id,
        workforce.annual_salary,
        levels.min_salary,
        levels.mid_salary,
        levels.max_salary,
        cast(workforce.annual_salary / levels.mid_salary as decimal(9, 4)) as compa_ratio
    from workforce
    inner join levels
        on workforce.level_id = levels.level_id

),

final as (

    select
        compared.*,
        merit_matrix.band_position
    from compared
    left join merit_matrix
        on compared.compa_ratio >= merit_matrix.min_compa_ratio
        and (merit_matrix.max_compa_ratio is null or compared.compa_ratio < merit_matrix.max_compa_ratio)

)

select * from final
