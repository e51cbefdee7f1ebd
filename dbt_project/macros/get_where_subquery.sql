{#
    The `where` config of tests, with the placeholder __simulation_year__ replaced by the
    simulation_year of the running invocation.

    Jinja in a test's yml config is rendered once at parse time, so `{{ var(...) }}` there
    would keep the year of the parse when a runner reuses a parsed manifest with other
    --vars. This override is called when the test runs, so the year is always current.
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- set where = where | replace('__simulation_year__', integer_var('simulation_year') | string) -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
