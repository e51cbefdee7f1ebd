with

needs as (

    select * from {{ ref('int_workforce_needs') }}

),

parameters as (

    select * from {{ ref('stg_simulation_parameters') }}

),

levels as (

    select * from {{ ref('stg_job_levels') }}

),

departments as (

    select * from {{ ref('stg_departments') }}

),

hire_sequence as (

    select
        simulation_year,
        unnest(generate_series(1, hires_needed)) as hire_sequence
    from needs

),

new_hire_ids as (

    select
        'NH' || simulation_year || '_' || {{ padded_number('hire_sequence', 6) }} as employee_id,
        simulation_year,
        hire_sequence
    from hire_sequence

),

draws as (

    select
        *,
        {{ random_uniform('employee_id', "'hire_level'") }} as level_draw,
        {{ random_uniform('employee_id', "'hire_department'") }} as department_draw,
        {{ random_uniform('employee_id', "'hire_salary'") }} as salary_draw,
        {{ random_uniform('employee_id', "'hire_date'") }} as hire_date_draw,
        {{ random_uniform('employee_id', "'hire_birth_date'") }} as birth_date_draw
    from new_hire_ids

),

hired as (

    select
        draws.employee_id,
        draws.simulation_year,
        draws.hire_sequence,
        levels.level_id,
        departments.department_id as department,
        cast(round(levels.min_salary + (levels.mid_salary - levels.min_salary) * draws.salary_draw, 0) as decimal(18, 2)) as annual_salary,
        {{ random_date_between('parameters.year_start_date', 'parameters.year_end_date', 'draws.hire_date_draw') }} as hire_date,
        draws.birth_date_draw
    from draws
    cross join parameters
    inner join levels
        on draws.level_draw >= levels.hire_share_from
        and draws.level_draw < levels.hire_share_to
    inner join departments
        on draws.department_draw >= departments.headcount_share_from
        and draws.department_draw < departments.headcount_share_to

),

final as (

    select
        employee_id || '_' || simulation_year || '_hire' as event_id,
        employee_id,
        simulation_year,
        'hire' as event_type,
        hire_sequence,
        hire_date as effective_date,
        level_id,
        department,
        annual_salary,
        hire_date,
        {{ random_date_between(
            'cast(hire_date - to_years(31 + 6 * level_id) as date) + 1',
            'hire_date - to_years(18 + 4 * level_id)',
            'birth_date_draw'
        ) }} as birth_date
    from hired

)

select * from final
