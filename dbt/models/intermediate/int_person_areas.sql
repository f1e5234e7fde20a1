-- One row per person and area of a project: who the person is in that area, taken from their
-- first counting enrolment there (earliest startdatum, then municipality and row). The newest
-- snapshots are the truth, so their enrolments are preferred; a person who only appears in older
-- snapshots (withdrawn since, but still counted by a phase KPI of an earlier month) is described
-- from their first enrolment there, as the latest snapshot holding it has it.

with

enrolment_areas as (

    select * from {{ ref('int_enrolment_areas') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by project_id, area, person_id
            order by
                is_in_newest_snapshot desc,
                startdatum,
                reporting_month desc,
                kommunkod,
                row_number
        ) as enrolment_rank

    from enrolment_areas

),

first_enrolments as (

    select * from ranked
    where enrolment_rank = 1

),

final as (

    select
        project_id || '|' || area || '|' || person_id as person_area_id,
        project_id,
        area,
        person_id,
        is_in_newest_snapshot,
        kon,
        case when kon in ('K', 'M', 'X') then kon else 'OKAND' end as kon_group,
        startdatum as first_startdatum,
        age_at_start as age_at_first_start,
        fodelseregion,
        funktionsnedsattning,
        utbildningsniva,
        sysselsattning_start,
        forsorjningsstod_start

    from first_enrolments

)

select * from final
