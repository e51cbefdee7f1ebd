{#
    Every rule of one model in ONE test node.

    dbt runs each generic test as a node of its own: compile, adapter round trips and result
    events cost ~40 ms a node, while the query itself takes DuckDB about a millisecond. A model's
    rules are therefore declared as the arguments of one `model_rules` test:

        data_tests:
          - model_rules:
              arguments:
                columns:
                  employee_id: [not_null, unique]
                  level_id:
                    - relationships: {to: ref('stg_job_levels'), field: level_id}
                rules:          # rules of the model as a whole (no column_name)
                  - unique_combination_of_columns: {combination_of_columns: [a, b]}
              config:
                where: "simulation_year = __simulation_year__"   # as for any test

    A rule is the name of a generic test (dbt's not_null, unique, accepted_values,
    relationships, or tests/generic/'s accepted_range, unique_combination_of_columns,
    expression_is_true) with its arguments; that test's own macro writes its SQL, so a rule means
    exactly what the test of that name means. Another generic test needs one more branch in
    model_rules_check: dbt gives a test only the macros its macros call by name. dbt renders
    `ref(...)` in the arguments when it parses the test, so the test depends on every model a
    rule reads.

    Each rule's failing rows are counted (a row of the rule's query: a null, a duplicated value,
    an unaccepted value...). If any rule fails, the test raises one error that names, on one
    line, the model, and the column, rule and count of each failing rule:

        model_rules failed: stg_census.employee_id not_null: 3 failing rows; stg_census.level_id relationships: 1 failing row

    It is raised with DuckDB's error() in a filter, which the query must evaluate (a projection
    under dbt's `select count(*) ... from (<test sql>)` would be optimised away); the test's
    status is then `error`, and its severity or store_failures config do not apply.
#}
{% test model_rules(model, columns={}, rules=[]) %}
    {%- set model_name = model_rules_target_name(model) -%}
    {%- set checks = [] -%}
    {%- for column_name, column_rules in columns.items() -%}
        {%- for rule in column_rules -%}
            {%- do checks.append(model_rules_check(model, model_name, column_name, rule, checks | length + 1)) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for rule in rules -%}
        {%- do checks.append(model_rules_check(model, model_name, none, rule, checks | length + 1)) -%}
    {%- endfor -%}
    {%- if not checks -%}
        {{ exceptions.raise_compiler_error("model_rules on " ~ model_name ~ " has no rules") }}
    {%- endif %}

with rule_results as (
    {{ checks | join('\n    union all\n') }}
),

failed as (
    select string_agg(
        label || ': ' || failing_rows || ' failing row' || case when failing_rows = 1 then '' else 's' end,
        '; ' order by position
    ) as failures
    from rule_results
    where failing_rows > 0
    having count(*) > 0
)

select failures
from failed
where error('model_rules failed: ' || failures) is null

{% endtest %}


{#- One rule as one row: its label and how many rows its test query returns. -#}
{% macro model_rules_check(model, model_name, column_name, rule, position) -%}
    {%- if rule is string -%}
        {%- set rule_name, arguments = rule, {} -%}
    {%- elif rule is mapping and rule | length == 1 -%}
        {%- set rule_name = (rule.keys() | list)[0] -%}
        {%- set arguments = rule[rule_name] or {} -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "model_rules on " ~ model_name ~ ": a rule is a test name or {name: {arguments}}, not "
            ~ rule) }}
    {%- endif -%}
    {%- set label = model_name ~ ("" if column_name is none else "." ~ column_name) ~ " " ~ rule_name -%}
    {%- set args = dict(arguments, model=model) -%}
    {%- if column_name is not none -%}
        {%- do args.update(column_name=column_name) -%}
    {%- endif -%}
    {#- Called by name, not looked up: dbt makes a test's macros available by its static calls. -#}
    {%- if rule_name == 'not_null' -%}
        {%- set rule_sql = test_not_null(**args) -%}
    {%- elif rule_name == 'unique' -%}
        {%- set rule_sql = test_unique(**args) -%}
    {%- elif rule_name == 'accepted_values' -%}
        {%- set rule_sql = test_accepted_values(**args) -%}
    {%- elif rule_name == 'relationships' -%}
        {%- set rule_sql = test_relationships(**args) -%}
    {%- elif rule_name == 'accepted_range' -%}
        {%- set rule_sql = test_accepted_range(**args) -%}
    {%- elif rule_name == 'unique_combination_of_columns' -%}
        {%- set rule_sql = test_unique_combination_of_columns(**args) -%}
    {%- elif rule_name == 'expression_is_true' -%}
        {%- set rule_sql = test_expression_is_true(**args) -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "model_rules on " ~ model_name ~ ": unknown rule '" ~ rule_name ~ "' (one of not_null, "
            ~ "unique, accepted_values, relationships, accepted_range, "
            ~ "unique_combination_of_columns, expression_is_true)") }}
    {%- endif %}
    select {{ position }} as position,
        '{{ label | replace("'", "''") }}' as label,
        count(*) as failing_rows
    from (
        {{ rule_sql }}
    ) as rule_rows
{%- endmacro %}


{#- The tested model's name: from the test node (`model` here is its relation or subquery). -#}
{% macro model_rules_target_name(model) -%}
    {%- set test_node = context.get('model') -%}
    {%- set attached = test_node.get('attached_node') if test_node is mapping else none -%}
    {%- if attached -%}
        {{- return(attached.split('.')[-1]) -}}
    {%- elif model.identifier is defined -%}
        {{- return(model.identifier) -}}
    {%- else -%}
        {{- return('model') -}}
    {%- endif -%}
{%- endmacro %}
