{#- Fails for every row where `expression` (SQL over the model's columns; with a column_name,
    the rest of an expression about that column, e.g. ">= 0") is false, as dbt_utils' test does. -#}
{% test expression_is_true(model, expression, column_name=none) %}

    select *
    from {{ model }}
    where not ({{ expression if column_name is none else column_name ~ ' ' ~ expression }})

{% endtest %}
