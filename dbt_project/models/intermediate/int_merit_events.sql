-- depends_on: {{ ref('int_cola_events') }}

with

hazard as (

    select * from {{ ref('int_merit_hazard') }}

),

workforce as (

    select * from {{ ref('int_workforce_start_of_year') }}

),

terminations as (

    select employee_id from {{ ref('int_termination_events') }}

),

promotions as (

    select employee_id, new_level_id, new_salary from {{ ref('int_promotion_events') }}

),

{% if var('enable_cola') %}
cola_events as (

    select employee_id, new_salary from {{ ref('int_cola_events') }}

),
{% endif %}

parameters as (

    select * from {{ ref('stg_simulation_parameters') }}

),

eligible as (

    select
        hazard.employee_id,
        hazard.simulation_year,
        hazard.merit_increase_pct,
        coalesce(promotions.new_level_id, workforce.level_id) as level_id,
        coalesce(
            promotions.new_salary,
            {% if var('enable_cola') -%}
            cola_events.new_salary,
            {% endif -%}
            workforce.annual_salary
        ) as old_salary
    from hazard
    inner join workforce
        on hazard.employee_id = workforce.employee_id
    left join promotions
        on hazard.employee_id = promotions.employee_id
    {% if var('enable_cola') -%}
    left join cola_events
        on hazard.employee_id = cola_events.employee_id
    {% endif -%}
    anti join terminations
        on hazard.employee_id = terminations.employee_id
    where hazard.merit_increase_pct > 0

),

final as (

    select
        eligible.employee_id || '_' || eligible.simulation_year || '_merit' as event_id,
        eligible.employee_id,
        eligible.simulation_year,
        'merit' as event_type,
        parameters.merit_effective_date as effective_date,
        eligible.level_id,
        eligible.merit_increase_pct,
        eligible.old_salary,
        cast(eligible.old_salary * (1 + eligible.merit_increase_pct) as decimal(18, 2)) as new_salary
    from eligible
    cross join parameters

)

select * from final
