{#- Rows that pass every rule of facts.yml; each name in the var `broken` adds one row that breaks
    exactly that rule. The row of 2024 breaks several, but the rules' `where` leaves it out. -#}
{%- set faulty = {
    'not_null':                      "(null, 'c', 1, 10, 2025)",
    'unique':                        "(3, 'a', 1, 10, 2025)",
    'accepted_values':               "(3, 'q', 1, 10, 2025)",
    'relationships':                 "(3, 'c', 7, 10, 2025)",
    'accepted_range':                "(3, 'c', 1, -1, 2025)",
    'expression_is_true':            "(3, 'c', 1, 5000, 2025)",
    'unique_combination_of_columns': "(1, 'c', 1, 10, 2025)",
} -%}
select * from (values
    (1, 'a', 1, 10, 2025),
    (2, 'b', 2, 20, 2025),
    (null, 'x', 9, -5, 2024)
    {%- for rule in var('broken') %},
    {{ faulty[rule] }}
    {%- endfor %}
) as facts(id, code, parent_id, amount, simulation_year)
