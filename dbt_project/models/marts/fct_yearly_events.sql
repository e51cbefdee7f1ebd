-- depends_on: {{ ref('int_cola_events') }}

with

terminations as (

    select * from {{ ref('int_termination_events') }}

),

hires as (

    select * from {{ ref('int_hiring_events') }}

),

new_hire_terminations as (

    select * from {{ ref('int_new_hire_termination_events') }}

),

promotions as (

    select * from {{ ref('int_promotion_events') }}

),

merits as (

    select * from {{ ref('int_merit_events') }}

),

{% if var('enable_cola') %}
cola_events as (

    select * from {{ ref('int_cola_events') }}

),
{% endif %}

events as (

    select
        event_id, simulation_year, employee_id, event_type, effective_date,
        level_id as old_level_id, level_id as new_level_id,
        annual_salary as old_salary, annual_salary as new_salary
    from terminations

    union all

    select
        event_id, simulation_year, employee_id, event_type, effective_date,
        cast(null as integer) as old_level_id, level_id as new_level_id,
        cast(null as decimal(18, 2)) as old_salary, annual_salary as new_salary
    from hires

    union all

    select
        event_id, simulation_year, employee_id, event_type, effective_date,
        level_id as old_level_id, level_id as new_level_id,
        annual_salary as old_salary, annual_salary as new_salary
    from new_hire_terminations

    union all

    select
        event_id, simulation_year, employee_id, event_type, effective_date,
        old_level_id, new_level_id,
        old_salary, new_salary
    from promotions

    union all

    select
        event_id, simulation_year, employee_id, event_type, effective_date,
        level_id as old_level_id, level_id as new_level_id,
        old_salary, new_salary
    from merits

    {% if var('enable_cola') %}
    union all

    select
        event_id, simulation_year, employee_id, event_type, effective_date,
        level_id as old_level_id, level_id as new_level_id,
        old_salary, new_salary
    from cola_events
    {% endif %}

),

final as (

    select
        event_id,
        simulation_year,
        employee_id,
        event_type,
        effective_date,
        cast(row_number() over (
            partition by employee_id
            order by
                effective_date,
                case event_type
                    when 'cola' then 1
                    when 'hire' then 2
                    when 'promotion' then 3
                    when 'merit' then 4
                    when 'termination' then 5
                    when 'new_hire_termination' then 6
                end
        ) as integer) as event_sequence,
        cast(old_level_id as integer) as old_level_id,
        cast(new_level_id as integer) as new_level_id,
        cast(old_salary as decimal(18, 2)) as old_salary,
        cast(new_salary as decimal(18, 2)) as new_salary
    from events
    {% if is_incremental() %}
    where simulation_year = {{ integer_var('simulation_year') }}
    {% endif %}

)

select * from final
