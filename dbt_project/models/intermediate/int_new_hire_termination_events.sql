with

hires as (

    select * from {{ ref('int_hiring_events') }}

),

parameters as (

    select * from {{ ref('stg_simulation_parameters') }}

),

draws as (

    select
        hires.*,
        parameters.new_hire_termination_rate,
        parameters.year_end_date,
        {{ random_uniform('hires.employee_id', "'new_hire_termination'") }} as termination_draw,
        {{ random_uniform('hires.employee_id', "'new_hire_termination_date'") }} as termination_date_draw
    from hires
    cross join parameters

),

final as (

    select
        employee_id || '_' || simulation_year || '_new_hire_termination' as event_id,
        employee_id,
        simulation_year,
        'new_hire_termination' as event_type,
        {{ random_date_between('hire_date', 'year_end_date', 'termination_date_draw') }} as effective_date,
        level_id,
        annual_salary
    from draws
    where termination_draw < new_hire_termination_rate

)

select * from final
