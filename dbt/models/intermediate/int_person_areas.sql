-- A table, not a view: several models and tests read it, and recomputing it for each is what
-- made dbt build slow at national scale (BENCHMARKS.md).
{{ config(materialized='table') }}

-- One row per person and area of a project: who the person is in that area, taken from their
-- first counting enrolment there (earliest startdatum, then municipality and row). The newest
-- snapshots are the truth, so their enrolments are preferred; a person who only appears in older
-- snapshots (withdrawn since, but still counted by a phase KPI of an earlier month) is described
-- from their first enrolment there, as the latest snapshot holding it has it.
--
-- Here each person gets their group in every breakdown of kpi_values, the not_known_share flags of
-- their first enrolment, and whether they took part in another project before.

with

-- Not materialised: each reader below takes its own part of it.
enrolment_areas as not materialized (

    select * from {{ ref('int_enrolment_areas') }}

),

projects as (

    select * from {{ ref('stg_landing__projects') }}

),

-- every project's counting enrolments as its newest snapshots tell them, to recognise a person
-- (same pseudonym in every project) who took part in another project before
all_project_enrolments as (

    select * from enrolment_areas
    where area = 'ALL'
        and is_in_newest_snapshot
        and not coalesce(is_anonymous, false)

),

newest_enrolments as (

    select * from enrolment_areas
    where is_in_newest_snapshot

),

-- the enrolments of persons none of whose enrolments in the area is in a newest snapshot: the
-- ranking below prefers newest snapshots, so of the older snapshots' rows (~20 per enrolment
-- nationally, whose ranking was most of this model's time) it needs only these
older_only_enrolments as (

    select enrolment_areas.*
    from enrolment_areas
    anti join (select distinct project_id, area, person_id from newest_enrolments) as newest_persons
        on enrolment_areas.project_id = newest_persons.project_id
        and enrolment_areas.area = newest_persons.area
        and enrolment_areas.person_id = newest_persons.person_id
    where not enrolment_areas.is_in_newest_snapshot

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

    from (
        select * from newest_enrolments
        union all
        select * from older_only_enrolments
    )

),

first_enrolments as (

    select * from ranked
    where enrolment_rank = 1

),

earlier_in_other_projects as (

    select distinct
        first_enrolments.project_id,
        first_enrolments.area,
        first_enrolments.person_id

    from first_enrolments
    inner join all_project_enrolments as other
        on first_enrolments.person_id = other.person_id
        and first_enrolments.project_id <> other.project_id
        and other.startdatum_delivered < first_enrolments.startdatum
    where not coalesce(first_enrolments.is_anonymous, false)

),

described as (

    select
        first_enrolments.*,
        projects.age_min,
        projects.age_max,
        earlier_in_other_projects.person_id is not null as is_from_other_project,
        -- not_known_share: counted over persons whose first enrolment has both codes known
        coalesce(first_enrolments.sysselsattning_start, 'OKAND') <> 'OKAND'
            and coalesce(first_enrolments.forsorjningsstod_start, 'OKAND') <> 'OKAND' as has_known_start_status

    from first_enrolments
    inner join projects
        on first_enrolments.project_id = projects.project_id
    left join earlier_in_other_projects
        on first_enrolments.project_id = earlier_in_other_projects.project_id
        and first_enrolments.area = earlier_in_other_projects.area
        and first_enrolments.person_id = earlier_in_other_projects.person_id

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
        -- five-year bands (15-19, 20-24, 25-29, ...) cut to the project's age range, so Fokus
        -- 16-25 has 16-19, 20-24 and 25-25; an age outside the range (accepted with a warning)
        -- is UTANFOR, an unknown age (anonymous participant) OKAND (macros/alder_group.sql)
        {{ alder_group('age_at_start', 'age_min', 'age_max') }} as alder_group,
        fodelseregion,
        coalesce(fodelseregion, 'OKAND') as fodelseregion_group,
        funktionsnedsattning,
        coalesce(funktionsnedsattning, 'OKAND') as funktionsnedsattning_group,
        utbildningsniva,
        coalesce(utbildningsniva, 'OKAND') as utbildningsniva_group,
        sysselsattning_start,
        forsorjningsstod_start,
        coalesce(forsorjningsstod_start, 'OKAND') as forsorjningsstod_start_group,
        has_known_start_status,
        has_known_start_status
            and sysselsattning_start <> 'ARBETSLOS_AF'
            and forsorjningsstod_start <> 'JA' as is_not_known,
        is_from_other_project

    from described

)

select * from final
