-- A table, not a view: several models and tests read it, and recomputing it for each is what
-- made dbt build slow at national scale (BENCHMARKS.md).
{{ config(materialized='table') }}

-- The breakdown groups each person falls in, per area: one row per person, area and breakdown.
-- `total` puts everyone in `T`; every other breakdown takes the person's group from their first
-- counting enrolment in the area (int_person_areas), OKAND when it is not known. The breakdowns
-- are listed in macros/kpi_breakdowns.sql.

{% set breakdowns = kpi_breakdowns() %}

with

person_areas as (

    select * from {{ ref('int_person_areas') }}

),

total_groups as (

    select
        project_id,
        area,
        person_id,
        'total' as breakdown,
        'T' as breakdown_group

    from person_areas

),

{% for breakdown in breakdowns %}
{{ breakdown }}_groups as (

    select
        project_id,
        area,
        person_id,
        '{{ breakdown }}' as breakdown,
        {{ breakdown }}_group as breakdown_group

    from person_areas

),

{% endfor %}
breakdowns as (

    select * from total_groups
    {% for breakdown in breakdowns %}
    union all
    select * from {{ breakdown }}_groups
    {% endfor %}

),

final as (

    select
        project_id || '|' || area || '|' || person_id || '|' || breakdown as person_area_breakdown_id,
        *

    from breakdowns

)

select * from final
