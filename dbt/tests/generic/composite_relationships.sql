{#
    A foreign key over several columns: every combination of `columns` in the model (with no
    null among them) exists as the same combination of `to_columns` in `to`.
#}
{% test composite_relationships(model, columns, to, to_columns) %}

with

child as (

    select distinct {{ columns | join(', ') }}
    from {{ model }}
    where {% for column in columns %}{{ column }} is not null{% if not loop.last %} and {% endif %}{% endfor %}

),

parent as (

    select distinct
        {% for column in to_columns %}{{ column }} as {{ columns[loop.index0] }}{% if not loop.last %}, {% endif %}{% endfor %}
    from {{ to }}

)

select * from child
except
select * from parent

{% endtest %}
