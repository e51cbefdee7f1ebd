-- depends_on: {{ ref('int_cola_events') }}

with

hazard as (

    select * from {{ ref('int_termination_hazard') }}

),

workforce as (

    select * from {{ ref('int_workforce_start_of_year') }}

),

parameters as (

    select * from {{ ref('stg_simulation_parameters') }}

),

{% if var('enable_cola') %}
cola_events as (

    select employee_id, new_salary from {{ ref('int_cola_events') }}

),
{% endif %}

draws as (

    select
        hazard.employee_id,
        hazard.simulation_year,
        hazard.termination_rate,
        {{ random_uniform('hazard.employee_id', "'termination'") }} as termination_draw,
        {{ random_uniform('hazard.employee_id', "'termination_date'") }} as termination_date_draw
    from hazard

),

final as (

    select
        draws.employee_id || '_' || draws.simulation_year || '_termination' as event_id,
        draws.employee_id,
        draws.simulation_year,
        'termination' as event_type,
        {{ random_date_between(
            'parameters.year_start_date + 1', 'parameters.year_end_date', 'draws.termination_date_draw'
        ) }} as effective_date,
        workforce.level_id,
        {% if var('enable_cola') -%}
        coalesce(cola_events.new_salary, workforce.annual_salary)
        {%- else -%}
        workforce.annual_salary
        {%- endif %} as annual_salary
    from draws
    cross join parameters
    inner join workforce
        on draws.employee_id = workforce.employee_id
    {% if var('enable_cola') -%}
    left join cola_events
        on draws.employee_id = cola_events.employee_id
    {% endif -%}
    where draws.termination_draw < draws.termination_rate

)

select * from final
