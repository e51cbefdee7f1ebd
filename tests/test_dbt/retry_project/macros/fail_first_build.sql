{#- Fails the first build of a database with var('first_failure'); later builds pass. A table
    in the database records that the first build happened. -#}
{% macro fail_first_build() %}
    {%- if execute and var('first_failure') -%}
        {%- set seen = run_query(
            "select count(*) from information_schema.tables where table_name = 'first_build_seen'"
        ).columns[0].values()[0] -%}
        {%- if seen == 0 -%}
            {%- do run_query("create table first_build_seen as select 1 as seen") -%}
            {{ exceptions.raise_compiler_error(var('first_failure')) }}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
