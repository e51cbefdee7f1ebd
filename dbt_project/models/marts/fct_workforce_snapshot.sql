with

employee_state as (

    select * from {{ ref('int_employee_state_by_year') }}

),

final as (

    select
        employee_id,
        simulation_year,
        status,
        level_id,
        department,
        annual_salary,
        hire_date,
        termination_date,
        birth_date,
        age,
        tenure_years,
        is_new_hire
    from employee_state
    {% if is_incremental() %}
    where simulation_year = {{ integer_var('simulation_year') }}
    {% endif %}

)

select * from final
