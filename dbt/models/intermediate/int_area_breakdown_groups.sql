-- The groups every KPI of an area is reported for: `total`/`T` and `kon`/`K`,`M`,`X` always
-- (zeros when nobody), plus any other group persons of the area fall in (`kon`/`OKAND` only when
-- some person's kon is unknown).

with

project_areas as (

    select * from {{ ref('int_project_areas') }}

),

person_area_breakdowns as (

    select * from {{ ref('int_person_area_breakdowns') }}

),

always_reported_groups as (

    select * from (
        values
            ('total', 'T'),
            ('kon', 'K'),
            ('kon', 'M'),
            ('kon', 'X')
    ) as groups (breakdown, breakdown_group)

),

always_reported as (

    select
        project_areas.project_id,
        project_areas.area,
        always_reported_groups.breakdown,
        always_reported_groups.breakdown_group

    from project_areas
    cross join always_reported_groups

),

observed as (

    select distinct
        project_id,
        area,
        breakdown,
        breakdown_group

    from person_area_breakdowns

),

area_groups as (

    select * from always_reported
    union
    select * from observed

),

final as (

    select
        project_id || '|' || area || '|' || breakdown || '|' || breakdown_group as area_breakdown_group_id,
        *

    from area_groups

)

select * from final
