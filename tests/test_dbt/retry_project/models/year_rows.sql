{{ fail_first_build() }}
select {{ var('simulation_year') }} as simulation_year
