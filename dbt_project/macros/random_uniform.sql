{#
    A deterministic uniform draw in [0, 1) for one row.

    The draw is the first 8 hex digits of md5(key | year | kind | seed) read as an
    unsigned 32-bit integer and divided by 2^32. It depends only on the row's key and
    the scenario, never on row order or thread count, so every run of a scenario draws
    the same numbers. `kind` separates independent streams for the same key
    (e.g. 'termination' vs 'termination_date').
#}
{% macro random_uniform(key, kind, year=none, seed=none) -%}
    {%- set year = integer_var('simulation_year') if year is none else year -%}
    {%- set seed = integer_var('random_seed') if seed is none else seed -%}
    (cast('0x' || substr(md5(concat_ws('|', cast({{ key }} as varchar), cast({{ year }} as varchar), {{ kind }}, cast({{ seed }} as varchar))), 1, 8) as ubigint) / 4294967296.0)
{%- endmacro %}
