-- depends_on: {{ ref('int_cola_events') }}

with

hazard as (

    select * from {{ ref('int_promotion_hazard') }}

),

workforce as (

    select * from {{ ref('int_workforce_start_of_year') }}

),

terminations as (

    select employee_id from {{ ref('int_termination_events') }}

),

{% if var('enable_cola') %}
cola_events as (

    select employee_id, new_salary from {{ ref('int_cola_events') }}

),
{% endif %}

levels as (

    select * from {{ ref('stg_job_levels') }}

),

parameters as (

    select * from {{ ref('stg_simulation_parameters') }}

),

promoted as (

    select
        hazard.employee_id,
        hazard.simulation_year,
        hazard.level_id as old_level_id,
        hazard.next_level_id as new_level_id,
        {% if var('enable_cola') -%}
        coalesce(cola_events.new_salary, workforce.annual_salary)
        {%- else -%}
        workforce.annual_salary
        {%- endif %} as old_salary
    from hazard
    inner join workforce
        on hazard.employee_id = workforce.employee_id
    {% if var('enable_cola') -%}
    left join cola_events
        on hazard.employee_id = cola_events.employee_id
    {% endif -%}
    anti join terminations
        on hazard.employee_id = terminations.employee_id
    where hazard.is_eligible
        and {{ random_uniform('hazard.employee_id', "'promotion'") }} < hazard.promotion_rate

),

final as (

    select
        promoted.employee_id || '_' || promoted.simulation_year || '_promotion' as event_id,
        promoted.employee_id,
        promoted.simulation_year,
        'promotion' as event_type,
        parameters.promotion_effective_date as effective_date,
        promoted.old_level_id,
        promoted.new_level_id,
        promoted.old_salary,
        greatest(
            cast(promoted.old_salary * (1 + parameters.promotion_raise_pct) as decimal(18, 2)),
            levels.min_salary
        ) as new_salary
    from promoted
    cross join parameters
    inner join levels
        on promoted.new_level_id = levels.level_id

)

select * from final
