-- The breakdown groups each person falls in, per area: one row per person, area and breakdown.
-- `total` puts everyone in `T`; `kon` uses the kon of the person's first counting enrolment in
-- the area, `OKAND` when it is not known. A new breakdown is one more select here.

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

kon_groups as (

    select
        project_id,
        area,
        person_id,
        'kon' as breakdown,
        kon_group as breakdown_group

    from person_areas

),

breakdowns as (

    select * from total_groups
    union all
    select * from kon_groups

),

final as (

    select
        project_id || '|' || area || '|' || person_id || '|' || breakdown as person_area_breakdown_id,
        *

    from breakdowns

)

select * from final
