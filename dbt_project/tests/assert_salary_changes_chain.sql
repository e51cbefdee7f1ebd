{#-
    The events of simulation_year explain the snapshot: each employee's events, in
    event_sequence order, start from the level and salary the previous event left, and the
    last event leaves the level and salary the snapshot shows. Returns one row per break.
-#}
with

events as (

    select * from {{ ref('fct_yearly_events') }}
    where simulation_year = {{ integer_var('simulation_year') }}

),

snapshot as (

    select * from {{ ref('fct_workforce_snapshot') }}
    where simulation_year = {{ integer_var('simulation_year') }}

),

sequenced as (

    select
        employee_id,
        event_sequence,
        event_type,
        old_level_id,
        new_level_id,
        old_salary,
        new_salary,
        lag(new_level_id) over (partition by employee_id order by event_sequence) as previous_level_id,
        lag(new_salary) over (partition by employee_id order by event_sequence) as previous_salary,
        event_sequence = max(event_sequence) over (partition by employee_id) as is_last_event
    from events

),

broken_chain as (

    select
        employee_id,
        event_type,
        'starts from a level or salary the previous event did not leave' as problem
    from sequenced
    where event_sequence > 1
        and (old_level_id is distinct from previous_level_id or old_salary is distinct from previous_salary)

),

snapshot_mismatch as (

    select
        sequenced.employee_id,
        sequenced.event_type,
        'last event leaves a level or salary the snapshot does not show' as problem
    from sequenced
    inner join snapshot
        on sequenced.employee_id = snapshot.employee_id
    where sequenced.is_last_event
        and (sequenced.new_level_id != snapshot.level_id or sequenced.new_salary != snapshot.annual_salary)

)

select * from broken_chain
union all
select * from snapshot_mismatch
