-- A table, not a view: several models and tests read it, and recomputing it for each is what
-- made dbt build slow at national scale (BENCHMARKS.md).
{{ config(materialized='table') }}

-- The groups every KPI of an area is reported for, zeros included when nobody is in them: `total`/`T`;
-- every known code of each breakdown (kon K, M, X; fodelseregion SVERIGE, EU_EES, TREDJELAND;
-- funktionsnedsattning and forsorjningsstod_start JA, NEJ; utbildningsniva ISCED_0_2, ISCED_3_4,
-- ISCED_5_8); the project's age bands (`alder`: five-year bands cut to its age range). OKAND
-- (unknown) and UTANFOR (age outside the range) only where some person of the area is in them.

with

projects as (

    select * from {{ ref('stg_landing__projects') }}

),

project_areas as (

    select * from {{ ref('int_project_areas') }}

),

person_area_breakdowns as (

    select * from {{ ref('int_person_area_breakdowns') }}

),

always_reported_codes as (

    select * from (
        values
            ('total', 'T'),
            ('kon', 'K'),
            ('kon', 'M'),
            ('kon', 'X'),
            ('fodelseregion', 'SVERIGE'),
            ('fodelseregion', 'EU_EES'),
            ('fodelseregion', 'TREDJELAND'),
            ('funktionsnedsattning', 'JA'),
            ('funktionsnedsattning', 'NEJ'),
            ('utbildningsniva', 'ISCED_0_2'),
            ('utbildningsniva', 'ISCED_3_4'),
            ('utbildningsniva', 'ISCED_5_8'),
            ('forsorjningsstod_start', 'JA'),
            ('forsorjningsstod_start', 'NEJ')
    ) as groups (breakdown, breakdown_group)

),

band_starts as (

    select
        project_id,
        age_min,
        age_max,
        unnest(generate_series(age_min - age_min % 5, age_max, 5)) as band_start

    from projects

),

age_bands as (

    select
        project_id,
        'alder' as breakdown,
        cast(greatest(age_min, band_start) as varchar)
            || '-' || cast(least(age_max, band_start + 4) as varchar) as breakdown_group

    from band_starts

),

always_reported as (

    select
        project_areas.project_id,
        project_areas.area,
        always_reported_codes.breakdown,
        always_reported_codes.breakdown_group

    from project_areas
    cross join always_reported_codes

    union all

    select
        project_areas.project_id,
        project_areas.area,
        age_bands.breakdown,
        age_bands.breakdown_group

    from project_areas
    inner join age_bands
        on project_areas.project_id = age_bands.project_id

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
