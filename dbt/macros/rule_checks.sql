{#
    The checks of the `rules` test (tests/generic/rules.sql) on `relation`, each as
    `union all select rule, column_names, value, row_count` of its broken rows. `label` follows
    the rule's name (" where <condition>" for a conditional rule).
#}
{% macro rule_checks(relation, label, not_null, unique, accepted_values, patterns, between, references, conditional) %}

{%- if not_null %}
union all
select {{ rule_text('not_null' ~ label) }}, empty_column, null, empty_rows
from (
    select
        {% for column in not_null -%}
        count(*) filter (where {{ column }} is null) as "{{ column }}"{{ "," if not loop.last }}
        {% endfor %}
    from {{ relation }}
) unpivot (empty_rows for empty_column in ({% for column in not_null %}"{{ column }}"{{ ", " if not loop.last }}{% endfor %}))
where empty_rows > 0
{%- endif %}

{%- for key in unique %}
{%- set columns = [key] if key is string else key %}
union all
select {{ rule_text('unique' ~ label) }}, {{ rule_text(columns | join(', ')) }},
       {% for column in columns %}coalesce(cast({{ column }} as varchar), 'NULL'){{ " || ' | ' || " if not loop.last }}{% endfor %}, count(*)
from {{ relation }}
{%- if key is string %}
where {{ key }} is not null
{%- endif %}
group by {{ columns | join(', ') }}
having count(*) > 1
{%- endfor %}

{#- the rules on one column's values: the same query, only the condition of a broken value differs #}
{%- set value_rules = [] %}
{%- for column, values in accepted_values.items() %}
{%- set allowed = [] %}
{%- for value in values %}{% do allowed.append(rule_text(value) | string) %}{% endfor %}
{%- do value_rules.append(('accepted_values', column, column ~ ' not in (' ~ allowed | join(', ') ~ ')')) %}
{%- endfor %}
{%- for column, pattern in patterns.items() %}
{%- do value_rules.append(('patterns', column, 'not regexp_full_match(' ~ column ~ ', ' ~ rule_text(pattern) ~ ')')) %}
{%- endfor %}
{%- for column, bounds in between.items() %}
{%- do value_rules.append(('between', column, column ~ ' < ' ~ bounds[0] ~ ' or ' ~ column ~ ' > ' ~ bounds[1])) %}
{%- endfor %}

{%- for rule, column, broken in value_rules %}
union all
select {{ rule_text(rule ~ label) }}, {{ rule_text(column) }}, cast({{ column }} as varchar), count(*)
from {{ relation }}
where {{ broken }}
group by {{ column }}
{%- endfor %}

{%- for reference in references %}
union all
select {{ rule_text('references' ~ label) }},
       {{ rule_text(reference.columns | join(', ') ~ ' -> ' ~ reference.to.identifier ~ '.' ~ reference.to_columns | join(', ')) }},
       {% for column in reference.columns %}cast(child.{{ column }} as varchar){{ " || ' | ' || " if not loop.last }}{% endfor %}, count(*)
from {{ relation }} as child
{#- an anti join, not `not exists`: DuckDB decorrelates that one through a distinct of the child's keys #}
anti join {{ reference.to }} as parent
    on {% for column in reference.columns %}parent.{{ reference.to_columns[loop.index0] }} = child.{{ column }}{{ " and " if not loop.last }}{% endfor %}
where {% for column in reference.columns %}child.{{ column }} is not null{{ " and " if not loop.last }}{% endfor %}
group by {% for column in reference.columns %}child.{{ column }}{{ ", " if not loop.last }}{% endfor %}
{%- endfor %}

{%- for rules in conditional %}
{{ rule_checks("(select * from " ~ relation ~ " where " ~ rules.where ~ ")", label ~ " where " ~ rules.where,
               rules.get('not_null', []), rules.get('unique', []), rules.get('accepted_values', {}), rules.get('patterns', {}),
               rules.get('between', {}), rules.get('references', []), rules.get('conditional', [])) }}
{%- endfor %}

{% endmacro %}


{# A text as a SQL string literal. #}
{% macro rule_text(text) -%}
'{{ text | string | replace("'", "''") }}'
{%- endmacro %}
