-- The counting enrolments of every current snapshot, once for their municipality and once for
-- ALL: the enrolments each area's KPIs are computed over. A person enrolled in two
-- municipalities thereby counts once in each and, being one person_id, once in ALL.

with

counting_enrolments as (

    select * from {{ ref('int_enrolments_current') }}
    where is_counting

),

municipality_enrolments as (

    select
        kommunkod as area,
        *

    from counting_enrolments

),

whole_project_enrolments as (

    select
        'ALL' as area,
        *

    from counting_enrolments

),

enrolment_areas as (

    select * from municipality_enrolments
    union all
    select * from whole_project_enrolments

),

final as (

    select
        enrolment_row_id || '|' || area as enrolment_area_id,
        enrolment_row_id,
        project_id,
        area,
        kommunkod,
        reporting_month,
        is_in_newest_snapshot,
        row_number,
        person_id,
        kon,
        age_at_start,
        startdatum,
        slutdatum,
        avslutsorsak,
        is_activity_outcome,
        fas,
        fodelseregion,
        funktionsnedsattning,
        utbildningsniva,
        sysselsattning_start,
        forsorjningsstod_start,
        forsorjningsstod_slut,
        uppfoljning_6m

    from enrolment_areas

)

select * from final
