-- The enrolments the KPIs stand on: every row of each municipality's newest snapshot, the ones
-- that do not count (FELREGISTRERING) included and flagged.

with

current_enrolments as (

    select * from {{ ref('int_enrolments_current') }}

),

final as (

    select
        enrolment_row_id,
        delivery_id,
        project_id,
        kommunkod,
        reporting_month,
        row_number,
        person_id,
        is_anonymous,
        kon,
        age_at_start,
        startdatum,
        slutdatum,
        avslutsorsak,
        fas,
        fodelseregion,
        funktionsnedsattning,
        utbildningsniva,
        sysselsattning_start,
        forsorjningsstod_start,
        forsorjningsstod_slut,
        uppfoljning_6m,
        warnings,
        is_counting,
        is_activity_outcome

    from current_enrolments
    where is_in_newest_snapshot

)

select * from final
