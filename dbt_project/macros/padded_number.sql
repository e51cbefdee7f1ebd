{#- A number as text, zero-padded to at least `width` digits and never truncated. -#}
{% macro padded_number(number, width) -%}
    lpad(cast({{ number }} as varchar), cast(greatest({{ width }}, length(cast({{ number }} as varchar))) as integer), '0')
{%- endmacro %}
