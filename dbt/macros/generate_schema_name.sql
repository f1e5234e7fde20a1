{#
    A model with a custom schema (staging, intermediate) lands in exactly that schema rather than
    dbt's default "<target schema>_<custom schema>"; one without (the marts) lands in the target
    schema, `main`. The warehouse then reads landing → staging → intermediate → main, and the
    Python side finds `main.kpi_values`.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
