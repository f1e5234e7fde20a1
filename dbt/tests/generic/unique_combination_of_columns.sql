{#
    A composite primary key: no two rows share the same values in all the given columns.
    (dbt_utils has one; the project runs without network, so it keeps its own.)
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with

grouped as (

    select
        {{ combination_of_columns | join(', ') }},
        count(*) as row_count

    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}

)

select * from grouped
where row_count > 1

{% endtest %}
