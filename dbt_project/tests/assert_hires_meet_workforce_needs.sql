{#-
    The hire events of simulation_year number exactly the hires_needed of the workforce plan.
-#}
with

needs as (

    select * from {{ ref('int_workforce_needs') }}

),

hires as (

    select count(*) as hires
    from {{ ref('fct_yearly_events') }}
    where simulation_year = {{ integer_var('simulation_year') }}
        and event_type = 'hire'

)

select
    needs.simulation_year,
    needs.hires_needed,
    hires.hires
from needs
cross join hires
where needs.hires_needed != hires.hires
