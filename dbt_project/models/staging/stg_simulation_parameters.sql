{%- if var('enable_cola') is not sameas true and var('enable_cola') is not sameas false -%}
    {{ exceptions.raise_compiler_error("var enable_cola must be true or false, got " ~ var('enable_cola')) }}
{%- endif -%}

with

source as (

    select
        {{ integer_var('simulation_year') }} as simulation_year,
        {{ integer_var('start_year') }} as start_year,
        {{ integer_var('n_employees') }} as n_employees,
        {{ integer_var('random_seed') }} as random_seed,
        {{ number_var('growth_rate') }} as growth_rate,
        {{ integer_var('retirement_age') }} as retirement_age,
        {{ number_var('new_hire_termination_rate') }} as new_hire_termination_rate,
        {{ number_var('promotion_raise_pct') }} as promotion_raise_pct,
        {{ number_var('merit_pct') }} as merit_pct,
        {{ 'true' if var('enable_cola') else 'false' }} as enable_cola,
        {{ number_var('cola_pct') }} as cola_pct

),

renamed as (

    select
        cast(simulation_year as integer) as simulation_year,
        cast(start_year as integer) as start_year,
        cast(n_employees as bigint) as n_employees,
        cast(random_seed as bigint) as random_seed,
        cast(growth_rate as decimal(9, 6)) as growth_rate,
        cast(retirement_age as integer) as retirement_age,
        cast(new_hire_termination_rate as decimal(9, 6)) as new_hire_termination_rate,
        cast(promotion_raise_pct as decimal(9, 6)) as promotion_raise_pct,
        cast(merit_pct as decimal(9, 6)) as merit_pct,
        cast(enable_cola as boolean) as enable_cola,
        cast(cola_pct as decimal(9, 6)) as cola_pct
    from source

),

final as (

    select
        *,
        make_date(simulation_year, 1, 1) as year_start_date,
        make_date(simulation_year, 12, 31) as year_end_date,
        make_date(simulation_year, 1, 1) as cola_effective_date,
        make_date(simulation_year, 4, 1) as promotion_effective_date,
        make_date(simulation_year, 7, 1) as merit_effective_date
    from renamed

)

select * from final
