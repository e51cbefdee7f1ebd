with

snapshot as (

    select * from {{ ref('fct_workforce_snapshot') }}
    {% if is_incremental() %}
    where simulation_year = {{ integer_var('simulation_year') }}
    {% endif %}

),

events as (

    select * from {{ ref('fct_yearly_events') }}
    {% if is_incremental() %}
    where simulation_year = {{ integer_var('simulation_year') }}
    {% endif %}

),

headcounts as (

    select
        simulation_year,
        count(*) filter (where not is_new_hire) as headcount_start,
        count(*) filter (where status = 'active') as headcount_end,
        cast(coalesce(sum(annual_salary) filter (where status = 'active'), 0) as decimal(18, 2)) as total_compensation
    from snapshot
    group by simulation_year

),

event_counts as (

    select
        simulation_year,
        count(*) filter (where event_type = 'hire') as hires,
        count(*) filter (where event_type = 'termination') as terminations,
        count(*) filter (where event_type = 'new_hire_termination') as new_hire_terminations,
        count(*) filter (where event_type = 'promotion') as promotions,
        count(*) filter (where event_type = 'merit') as merit_increases,
        count(*) filter (where event_type = 'cola') as cola_adjustments
    from events
    group by simulation_year

),

final as (

    select
        headcounts.simulation_year,
        headcounts.headcount_start,
        coalesce(event_counts.hires, 0) as hires,
        coalesce(event_counts.terminations, 0) as terminations,
        coalesce(event_counts.new_hire_terminations, 0) as new_hire_terminations,
        coalesce(event_counts.promotions, 0) as promotions,
        coalesce(event_counts.merit_increases, 0) as merit_increases,
        coalesce(event_counts.cola_adjustments, 0) as cola_adjustments,
        headcounts.headcount_end,
        headcounts.total_compensation,
        cast(
            case when headcounts.headcount_end > 0 then headcounts.total_compensation / headcounts.headcount_end end
            as decimal(18, 2)
        ) as average_salary,
        cast(
            case
                when headcounts.headcount_start > 0
                    then (headcounts.headcount_end - headcounts.headcount_start) / headcounts.headcount_start
            end
            as decimal(9, 6)
        ) as headcount_growth_rate
    from headcounts
    left join event_counts
        on headcounts.simulation_year = event_counts.simulation_year

)

select * from final
