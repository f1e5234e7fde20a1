{#
    Every non-null value matches a regular expression in full (DuckDB regexp_full_match),
    e.g. a kommunkod '[0-9]{4}', an area '[0-9]{4}|ALL', a month '[0-9]{4}-(0[1-9]|1[0-2])'.
#}
{% test matches_pattern(model, column_name, pattern) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and not regexp_full_match({{ column_name }}, '{{ pattern }}')

{% endtest %}
