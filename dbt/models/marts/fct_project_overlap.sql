-- Participants who came from another project: for each project, area and other project, how
-- many of the project's participants at its newest period had a counting enrolment in the other
-- project that started before their first enrolment here. Pseudonyms are the same in every
-- project, so a person is recognised across projects; anonymous participants never are.
-- Exact figures for coordinators (not part of the funder export); the KPI
-- from_other_project_share in kpi_values gives the share per breakdown and month.

with

person_area_periods as (

    select * from {{ ref('int_person_area_periods') }}

),

person_areas as (

    select * from {{ ref('int_person_areas') }}

),

other_project_enrolments as (

    select * from {{ ref('int_enrolment_areas') }}
    where area = 'ALL'
        and is_in_newest_snapshot
        and not coalesce(is_anonymous, false)

),

newest_periods as (

    select
        project_id,
        max(period) as period

    from {{ ref('int_project_periods') }}
    group by project_id

),

newest_participants as (

    select
        person_area_periods.project_id,
        person_area_periods.area,
        person_area_periods.period,
        person_area_periods.person_id,
        person_areas.first_startdatum

    from person_area_periods
    inner join newest_periods
        on person_area_periods.project_id = newest_periods.project_id
        and person_area_periods.period = newest_periods.period
    inner join person_areas
        on person_area_periods.project_id = person_areas.project_id
        and person_area_periods.area = person_areas.area
        and person_area_periods.person_id = person_areas.person_id

),

came_from as (

    select distinct
        newest_participants.project_id,
        newest_participants.area,
        newest_participants.period,
        other_project_enrolments.project_id as other_project_id,
        newest_participants.person_id

    from newest_participants
    inner join other_project_enrolments
        on newest_participants.person_id = other_project_enrolments.person_id
        and newest_participants.project_id <> other_project_enrolments.project_id
        and other_project_enrolments.startdatum_delivered < newest_participants.first_startdatum

),

final as (

    select
        project_id || '|' || area || '|' || other_project_id as project_overlap_id,
        project_id,
        area,
        period,
        other_project_id,
        count(*) as persons

    from came_from
    group by project_id, area, period, other_project_id

)

select * from final
