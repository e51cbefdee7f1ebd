-- depends_on: {{ ref('int_cola_events') }}

with

workforce as (

    select * from {{ ref('int_workforce_start_of_year') }}

),

hires as (

    select * from {{ ref('int_hiring_events') }}

),

terminations as (

    select * from {{ ref('int_termination_events') }}

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

parameters as (

    select simulation_year, year_end_date from {{ ref('stg_simulation_parameters') }}

),

experienced as (

    select
        workforce.employee_id,
        workforce.simulation_year,
        case when terminations.employee_id is null then 'active' else 'terminated' end as status,
        coalesce(promotions.new_level_id, workforce.level_id) as level_id,
        workforce.department,
        coalesce(
            merits.new_salary,
            promotions.new_salary,
            {% if var('enable_cola') -%}
            cola_events.new_salary,
            {% endif -%}
            workforce.annual_salary
        ) as annual_salary,
        workforce.hire_date,
        terminations.effective_date as termination_date,
        workforce.birth_date,
        false as is_new_hire
    from workforce
    left join terminations
        on workforce.employee_id = terminations.employee_id
    left join promotions
        on workforce.employee_id = promotions.employee_id
    left join merits
        on workforce.employee_id = merits.employee_id
    {% if var('enable_cola') -%}
    left join cola_events
        on workforce.employee_id = cola_events.employee_id
    {% endif %}

),

new_hires as (

    select
        hires.employee_id,
        hires.simulation_year,
        case when new_hire_terminations.employee_id is null then 'active' else 'terminated' end as status,
        hires.level_id,
        hires.department,
        hires.annual_salary,
        hires.hire_date,
        new_hire_terminations.effective_date as termination_date,
        hires.birth_date,
        true as is_new_hire
    from hires
    left join new_hire_terminations
        on hires.employee_id = new_hire_terminations.employee_id

),

combined as (

    select * from experienced
    union all
    select * from new_hires

),

final as (

    select
        combined.employee_id,
        combined.simulation_year,
        combined.status,
        combined.level_id,
        combined.department,
        combined.annual_salary,
        combined.hire_date,
        combined.termination_date,
        combined.birth_date,
        {{ full_years_between('combined.birth_date', 'coalesce(combined.termination_date, parameters.year_end_date)') }} as age,
        {{ full_years_between('combined.hire_date', 'coalesce(combined.termination_date, parameters.year_end_date)') }} as tenure_years,
        combined.is_new_hire
    from combined
    cross join parameters

)

select * from final
