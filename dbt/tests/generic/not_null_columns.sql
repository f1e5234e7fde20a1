{#
    No empty value in any of the given columns. One test (one dbt node, one asset check on a mart)
    per model instead of a `not_null` per column: dbt spends about as long on a node's bookkeeping
    as DuckDB on its query (BENCHMARKS.md). A failure names each empty column and its empty rows.
#}
{% test not_null_columns(model, columns) %}

with

empty_counts as (

    select
        {% for column in columns -%}
        count(*) filter (where {{ column }} is null) as "{{ column }}"{{ "," if not loop.last }}
        {% endfor %}
    from {{ model }}

)

select empty_column, empty_rows
from empty_counts
unpivot (empty_rows for empty_column in ({% for column in columns %}"{{ column }}"{{ ", " if not loop.last }}{% endfor %}))
where empty_rows > 0

{% endtest %}
