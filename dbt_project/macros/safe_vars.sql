{#-
    The only way a var reaches SQL text.

    Anyone can pass --vars, so each macro checks its value before it is rendered and fails
    the compilation naming the var otherwise: numbers must be numbers (rendered as numeric
    literals), keys must match a pattern, a file path must be a plain path (rendered as a
    string literal with its quotes doubled, which DuckDB reads back unchanged). Models, tests
    and macros call these instead of var(); only the boolean enable_cola is read directly,
    and only to choose between fixed SQL texts.
-#}

{#-
    A number (not a bool, NaN or infinity), or a string that is a plain decimal number: dbt reads
    --vars as YAML, which takes 1e-05 (how Python writes 0.00001) for a string. Returns it as is.
-#}
{% macro sql_number(value, name) -%}
    {%- if value is string -%}
        {%- set ok = modules.re.fullmatch('-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?', value) -%}
    {%- else -%}
        {%- set ok = value is number and value is not boolean and value == value
            and (value | string) not in ['inf', '-inf'] -%}
    {%- endif -%}
    {%- if not ok -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be a number, got " ~ tojson(value)) }}
    {%- endif -%}
    {{- return(value) -}}
{%- endmacro %}

{#- An integer (not a bool); returns it unchanged. -#}
{% macro sql_integer(value, name) -%}
    {%- if value is boolean or value is not integer -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be an integer, got " ~ tojson(value)) }}
    {%- endif -%}
    {{- return(value) -}}
{%- endmacro %}

{% macro number_var(name) -%}
    {{- return(sql_number(var(name), name)) -}}
{%- endmacro %}

{% macro integer_var(name) -%}
    {{- return(sql_integer(var(name), name)) -}}
{%- endmacro %}

{#- A key of a dict var (a string or an integer) that fully matches `pattern`, quoted. -#}
{% macro sql_key(key, name, pattern) -%}
    {%- set text = (key | string) if (key is integer and key is not boolean) else key -%}
    {%- if text is not string or not modules.re.fullmatch(pattern, text) -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " has the key " ~ tojson(key) ~ ", which does not match " ~ pattern) }}
    {%- endif -%}
    {{- return("'" ~ text ~ "'") -}}
{%- endmacro %}

{#-
    The rows (key, rate) of the dict var `name`, as a union of selects: keys checked against
    `key_pattern`, rates numbers cast to decimal(9, 6).
-#}
{% macro rate_rows(name, key_column, rate_column, key_pattern) -%}
    {%- set rates = var(name) -%}
    {%- if rates is not mapping or rates | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be a non-empty mapping of key to rate, got " ~ tojson(rates)) }}
    {%- endif -%}
    {%- for key, rate in rates.items() %}
    select
        {{ sql_key(key, name, key_pattern) }} as {{ key_column }},
        cast({{ sql_number(rate, name ~ "[" ~ tojson(key) ~ "]") }} as decimal(9, 6)) as {{ rate_column }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{#-
    The var `name` as a quoted SQL string naming one file, or '' when the var is empty.
    Control characters and DuckDB's glob characters (* ? [ ]) are refused: a reader of the
    path would expand them to other files.
-#}
{% macro file_path_var(name) -%}
    {%- set path = var(name) -%}
    {%- if path is none or path == '' -%}
        {{- return('') -}}
    {%- endif -%}
    {%- if path is not string or modules.re.search('[\\x00-\\x1f*?\\[\\]]', path) -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be the path of one file, without control characters or the "
            ~ "glob characters * ? [ ], got " ~ tojson(path)) }}
    {%- endif -%}
    {{- return("'" ~ (path | replace("'", "''")) ~ "'") -}}
{%- endmacro %}
