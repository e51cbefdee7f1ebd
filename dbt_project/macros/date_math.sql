{#- Completed years between two dates (an age or a length of service). -#}
{% macro full_years_between(start_date, end_date) -%}
    (year({{ end_date }}) - year({{ start_date }})
        - case when strftime({{ end_date }}, '%m%d') < strftime({{ start_date }}, '%m%d') then 1 else 0 end)
{%- endmacro %}

{#- A date drawn uniformly from first_date to last_date, both included. -#}
{% macro random_date_between(first_date, last_date, draw) -%}
    (cast({{ first_date }} as date)
        + cast(floor({{ draw }} * (date_diff('day', cast({{ first_date }} as date), cast({{ last_date }} as date)) + 1)) as integer))
{%- endmacro %}
