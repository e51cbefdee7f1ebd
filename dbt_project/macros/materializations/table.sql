{#-
  This project's table materialization on DuckDB, in place of dbt-duckdb's: one
  `create or replace table ... as` in the model's transaction, then commit. dbt-duckdb's builds
  the table beside the old one, renames the old one away and the new one in, commits, and drops
  the old one in a transaction of its own: five statements and two commits per model and year
  where this is one statement and one commit. DuckDB replaces the table atomically on commit, so
  a reader sees the old table or the new one, as before. Hooks run as in dbt's materializations;
  a view of the same name (a model that was a view) is dropped first. Unsupported here, because
  no model of this project uses them: contracts, indexes, grants, persisted docs, Python models.
-#}
{% materialization table, adapter="duckdb", supported_languages=["sql"] %}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type="table") -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% if existing_relation is not none and not existing_relation.is_table %}
    {{ adapter.drop_relation(existing_relation) }}
  {% endif %}

  {% call statement("main") -%}
    {%- set sql_header = config.get("sql_header", none) -%}
    {{ sql_header if sql_header is not none }}
    create or replace table {{ target_relation }} as (
      {{ compiled_code }}
    );
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({"relations": [target_relation]}) }}
{% endmaterialization %}
