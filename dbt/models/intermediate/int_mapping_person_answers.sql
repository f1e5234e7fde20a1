-- A table, not ephemeral: a run builds with one parsed manifest kept in its process
-- (transform/dbt_build.py), and dbt injects an ephemeral model's CTE only on the first build of
-- that manifest (the second failed with "__dbt__cte__… does not exist").
{{ config(materialized='table') }}

-- Each person's answers the figures count, per area (the municipality that delivered the
-- occasion, and ALL for the whole project): `svar`, the latest answer to each question - every
-- category of the person's latest occasion in the area on which the question has an answer (a
-- multiple choice: all its codes); and for a person who answered the question on two occasions or
-- more in the area, `fore`, the categories of the first of them, and `efter`, of the latest.

with

answers as (

    select * from {{ ref('fct_mapping_answers') }}

),

answer_areas as (

    select project_id, kommunkod as area, person_id, question_id, besvarad, category
    from answers

    union all

    select project_id, 'ALL' as area, person_id, question_id, besvarad, category
    from answers

),

answering_occasions as (

    select
        project_id,
        area,
        person_id,
        question_id,
        min(besvarad) as first_besvarad,
        max(besvarad) as latest_besvarad,
        count(distinct besvarad) as answering_occasions

    from answer_areas
    group by project_id, area, person_id, question_id

),

dated as (

    select
        answer_areas.*,
        answering_occasions.first_besvarad,
        answering_occasions.latest_besvarad,
        answering_occasions.answering_occasions

    from answer_areas
    inner join answering_occasions
        on answer_areas.project_id = answering_occasions.project_id
        and answer_areas.area = answering_occasions.area
        and answer_areas.person_id = answering_occasions.person_id
        and answer_areas.question_id = answering_occasions.question_id

),

final as (

    select project_id, area, person_id, question_id, 'svar' as measure, category, besvarad
    from dated
    where besvarad = latest_besvarad

    union all

    select project_id, area, person_id, question_id, 'fore' as measure, category, besvarad
    from dated
    where besvarad = first_besvarad and answering_occasions >= 2

    union all

    select project_id, area, person_id, question_id, 'efter' as measure, category, besvarad
    from dated
    where besvarad = latest_besvarad and answering_occasions >= 2

)

select * from final
