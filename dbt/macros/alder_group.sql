{#
    The age group of a person in a project: five-year bands (15-19, 20-24, 25-29, ...) cut to the
    project's age range, so Fokus 16-25 has 16-19, 20-24 and 25-25; an age outside the range
    (accepted with a warning) is UTANFOR, an unknown age (an anonymous person) OKAND. The one
    statement of the rule: int_person_areas (age at first start) and mapping_values (age at the
    first mapping occasion) both group with it.
#}
{% macro alder_group(age, age_min, age_max) -%}
case
            when {{ age }} is null then 'OKAND'
            when {{ age }} < {{ age_min }} or {{ age }} > {{ age_max }} then 'UTANFOR'
            else cast(greatest({{ age_min }}, {{ age }} - {{ age }} % 5) as varchar)
                || '-' || cast(least({{ age_max }}, {{ age }} - {{ age }} % 5 + 4) as varchar)
        end
{%- endmacro %}
