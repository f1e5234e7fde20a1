{#
    The breakdowns of kpi_values besides `total` (group T), each a <breakdown>_group column of
    int_person_areas: int_person_area_breakdowns lists each person's groups from them, and
    int_kpi_counts counts every breakdown in one pass with `breakdown_grouping_sets`. A new
    breakdown is one more entry here and a <breakdown>_group column in int_person_areas.
#}
{% macro kpi_breakdowns() -%}
{{ return(['kon', 'alder', 'fodelseregion', 'funktionsnedsattning', 'utbildningsniva', 'forsorjningsstod_start']) }}
{%- endmacro %}


{# `group by` over `keys` alone (the total) and over `keys` with each breakdown's group column. #}
{% macro breakdown_grouping_sets(keys) -%}
grouping sets (
        ({{ keys | join(', ') }}),
        {% for breakdown in kpi_breakdowns() -%}
        ({{ keys | join(', ') }}, {{ breakdown }}_group){{ ',' if not loop.last }}
        {% endfor -%}
    )
{%- endmacro %}


{# The breakdown and breakdown_group of a row grouped by `breakdown_grouping_sets`. #}
{% macro breakdown_of_grouping_set() -%}
case
            {% for breakdown in kpi_breakdowns() -%}
            when grouping({{ breakdown }}_group) = 0 then '{{ breakdown }}'
            {% endfor -%}
            else 'total'
        end as breakdown,
        case
            {% for breakdown in kpi_breakdowns() -%}
            when grouping({{ breakdown }}_group) = 0 then {{ breakdown }}_group
            {% endfor -%}
            else 'T'
        end as breakdown_group
{%- endmacro %}
