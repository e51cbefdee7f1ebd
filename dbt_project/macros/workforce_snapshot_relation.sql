{#
    The relation of the fct_workforce_snapshot mart, or none when it does not exist yet.

    Upstream models read the previous year from this mart without ref(), which would be a
    cycle. The mart's database, schema and alias come from the graph, so a custom schema
    for the marts is followed. Returns none while parsing.
#}
{% macro workforce_snapshot_relation() %}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set nodes = graph.nodes.values()
        | selectattr('resource_type', 'equalto', 'model')
        | selectattr('package_name', 'equalto', project_name)
        | selectattr('name', 'equalto', 'fct_workforce_snapshot')
        | list -%}
    {%- if nodes | length != 1 -%}
        {{ exceptions.raise_compiler_error('expected exactly one model fct_workforce_snapshot, found ' ~ (nodes | length)) }}
    {%- endif -%}
    {%- set node = nodes[0] -%}
    {{ return(adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias)) }}
{% endmacro %}
