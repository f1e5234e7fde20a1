{#
    Models land in the schema their folder names (staging, intermediate, marts) rather than
    dbt's default "<target schema>_<custom schema>", so the warehouse reads
    landing → staging → intermediate → marts and the Python side finds `marts.kpi_values`.
    A model without a custom schema would land in the target schema, `main`.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
