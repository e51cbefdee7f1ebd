{#-
    Reconciles simulation_year: active at start + hires - (terminations + new-hire
    terminations) = active at end, and the snapshot, the events and the summary agree.
    The start is the census baseline in start_year, the previous year's active snapshot
    rows after that. Returns one row per check that fails.
-#}
-- depends_on: {{ ref('int_baseline_workforce') }}
{%- set simulation_year = integer_var('simulation_year') %}

with

snapshot as (

    select * from {{ ref('fct_workforce_snapshot') }}
    where simulation_year = {{ simulation_year }}

),

events as (

    select * from {{ ref('fct_yearly_events') }}
    where simulation_year = {{ simulation_year }}

),

summary as (

    select * from {{ ref('fct_workforce_summary') }}
    where simulation_year = {{ simulation_year }}

),

opening as (

    {% if simulation_year == integer_var('start_year') -%}
    select count(*) as active_at_start from {{ ref('int_baseline_workforce') }}
    {%- else -%}
    select count(*) as active_at_start from {{ ref('fct_workforce_snapshot') }}
    where simulation_year = {{ simulation_year - 1 }}
        and status = 'active'
    {%- endif %}

),

snapshot_counts as (

    select
        count(*) filter (where not is_new_hire) as experienced,
        count(*) filter (where is_new_hire) as new_hires,
        count(*) filter (where status = 'terminated') as terminated,
        count(*) filter (where status = 'active') as active_at_end
    from snapshot

),

event_counts as (

    select
        count(*) filter (where event_type = 'hire') as hires,
        count(*) filter (where event_type = 'termination') as terminations,
        count(*) filter (where event_type = 'new_hire_termination') as new_hire_terminations
    from events

),

checks as (

    select
        'active at end = active at start + hires - terminations - new-hire terminations' as check_name,
        opening.active_at_start + event_counts.hires
            - event_counts.terminations - event_counts.new_hire_terminations as expected,
        snapshot_counts.active_at_end as actual
    from opening, event_counts, snapshot_counts

    union all

    select
        'experienced employees in the snapshot = active at start',
        opening.active_at_start,
        snapshot_counts.experienced
    from opening, snapshot_counts

    union all

    select
        'new hires in the snapshot = hire events',
        event_counts.hires,
        snapshot_counts.new_hires
    from event_counts, snapshot_counts

    union all

    select
        'terminated in the snapshot = termination events',
        event_counts.terminations + event_counts.new_hire_terminations,
        snapshot_counts.terminated
    from event_counts, snapshot_counts

    union all

    select
        'summary headcount_start = active at start',
        opening.active_at_start,
        coalesce((select headcount_start from summary), -1)
    from opening

    union all

    select
        'summary headcount_end = active at end',
        snapshot_counts.active_at_end,
        coalesce((select headcount_end from summary), -1)
    from snapshot_counts

)

select * from checks
where expected is distinct from actual
