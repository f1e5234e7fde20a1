-- The mapping's figures in one long table: one row per project, area, breakdown group, question,
-- measure and answer category, zeros included, and the inventory figures.
--
-- Areas: each municipality that delivered a mapping occasion that counts, and ALL. Breakdowns:
-- `total` (T); `kon` (K, M, X always, OKAND where somebody is), from the person's latest occasion in
-- the area; `alder` (the project's age bands always, UTANFOR and OKAND where somebody is), the age
-- at the person's first occasion in the area, grouped like int_person_areas (macros/alder_group.sql).
-- Measures (int_mapping_person_answers):
--   svar   numerator = persons whose latest answer is in the category, denominator = persons with a
--          latest answer to the question;
--   fore   among persons who answered the question on two occasions or more: those whose first
--          answer is in the category, over all of them;
--   efter  the same persons, by their latest answer.
-- value = numerator / denominator, none when the denominator is 0. A multiple-choice question's
-- categories can add up to more than its denominator (a person may choose several).
-- Inventory (projects whose instrument has `inventory:`), breakdown total, measure `inventering`,
-- domain Inventering, question_id = the figure, category '': `kartlagda` (persons mapped),
-- `utanfor_arbete_studier` and `varken_af_eller_fs` (persons whose latest answer to every question
-- the figure names is one of its codes); in ALL each over the project's target population (value =
-- the share), and `malpopulation`, the target population itself; in a municipality, or without a
-- target population, value = numerator = the count and no denominator.

with

projects as (

    select * from {{ ref('stg_landing__projects') }}

),

occasions as (

    select * from {{ ref('int_mapping_occasions') }}

),

person_answers as (

    select * from {{ ref('int_mapping_person_answers') }}

),

questions as (

    select * from {{ ref('stg_landing__mapping_questions') }}

),

categories as (

    select * from {{ ref('stg_landing__mapping_categories') }}

),

inventory_rules as (

    select * from {{ ref('stg_landing__mapping_inventory_rules') }}

),

area_breakdown_groups as (

    select * from {{ ref('int_area_breakdown_groups') }}

),

occasion_areas as (

    select project_id, kommunkod as area, person_id, besvarad, kon, age_at_answer
    from occasions

    union all

    select project_id, 'ALL' as area, person_id, besvarad, kon, age_at_answer
    from occasions

),

ranked_occasions as (

    select
        *,
        row_number() over (partition by project_id, area, person_id order by besvarad desc) as from_latest,
        row_number() over (partition by project_id, area, person_id order by besvarad) as from_first

    from occasion_areas

),

person_areas as (

    select
        project_id,
        area,
        person_id,
        max(kon) filter (where from_latest = 1) as kon,
        max(age_at_answer) filter (where from_first = 1) as age_at_first_answer

    from ranked_occasions
    group by project_id, area, person_id

),

person_groups as (

    select project_id, area, person_id, 'total' as breakdown, 'T' as breakdown_group
    from person_areas

    union all

    select
        project_id, area, person_id, 'kon' as breakdown,
        case when kon in ('K', 'M', 'X') then kon else 'OKAND' end as breakdown_group
    from person_areas

    union all

    select
        person_areas.project_id, person_areas.area, person_areas.person_id, 'alder' as breakdown,
        {{ alder_group('person_areas.age_at_first_answer', 'projects.age_min', 'projects.age_max') }} as breakdown_group
    from person_areas
    inner join projects
        on person_areas.project_id = projects.project_id

),

mapped_areas as (

    select distinct project_id, area from person_areas

),

-- the groups always reported (int_area_breakdown_groups: kon K, M, X, the project's age bands)
-- and the ones somebody mapped is in
report_groups as (

    select
        area_breakdown_groups.project_id,
        area_breakdown_groups.area,
        area_breakdown_groups.breakdown,
        area_breakdown_groups.breakdown_group

    from area_breakdown_groups
    inner join mapped_areas
        on area_breakdown_groups.project_id = mapped_areas.project_id
        and area_breakdown_groups.area = mapped_areas.area
    where area_breakdown_groups.breakdown in ('total', 'kon', 'alder')
        and area_breakdown_groups.breakdown_group not in ('OKAND', 'UTANFOR')

    union

    select distinct project_id, area, breakdown, breakdown_group from person_groups

),

measures as (

    select * from (values ('svar', 1), ('fore', 2), ('efter', 3)) as measures (measure, measure_order)

),

grid as (

    select
        report_groups.project_id,
        report_groups.area,
        report_groups.breakdown,
        report_groups.breakdown_group,
        questions.domain,
        questions.question_id,
        questions.question_order,
        measures.measure,
        categories.category,
        categories.category_order

    from report_groups
    inner join questions
        on report_groups.project_id = questions.project_id
    inner join categories
        on questions.project_id = categories.project_id
        and questions.question_id = categories.question_id
    cross join measures

),

grouped_answers as (

    select
        person_answers.*,
        person_groups.breakdown,
        person_groups.breakdown_group

    from person_answers
    inner join person_groups
        on person_answers.project_id = person_groups.project_id
        and person_answers.area = person_groups.area
        and person_answers.person_id = person_groups.person_id

),

numerators as (

    select
        project_id, area, breakdown, breakdown_group, question_id, measure, category,
        count(distinct person_id) as persons
    from grouped_answers
    group by project_id, area, breakdown, breakdown_group, question_id, measure, category

),

denominators as (

    select
        project_id, area, breakdown, breakdown_group, question_id, measure,
        count(distinct person_id) as persons
    from grouped_answers
    group by project_id, area, breakdown, breakdown_group, question_id, measure

),

answer_values as (

    select
        grid.*,
        cast(coalesce(numerators.persons, 0) as double) as numerator,
        cast(coalesce(denominators.persons, 0) as double) as denominator

    from grid
    left join numerators
        on grid.project_id = numerators.project_id
        and grid.area = numerators.area
        and grid.breakdown = numerators.breakdown
        and grid.breakdown_group = numerators.breakdown_group
        and grid.question_id = numerators.question_id
        and grid.measure = numerators.measure
        and grid.category = numerators.category
    left join denominators
        on grid.project_id = denominators.project_id
        and grid.area = denominators.area
        and grid.breakdown = denominators.breakdown
        and grid.breakdown_group = denominators.breakdown_group
        and grid.question_id = denominators.question_id
        and grid.measure = denominators.measure

),

-- inventory: the persons whose latest answers meet every condition of a figure
figure_questions as (

    select project_id, figure, count(distinct question_id) as conditions
    from inventory_rules
    group by project_id, figure

),

conditions_met as (

    select
        person_answers.project_id,
        person_answers.area,
        person_answers.person_id,
        inventory_rules.figure,
        count(distinct inventory_rules.question_id) as conditions

    from person_answers
    inner join inventory_rules
        on person_answers.project_id = inventory_rules.project_id
        and person_answers.question_id = inventory_rules.question_id
        and person_answers.category = inventory_rules.code
    where person_answers.measure = 'svar'
    group by person_answers.project_id, person_answers.area, person_answers.person_id, inventory_rules.figure

),

figure_persons as (

    select conditions_met.project_id, conditions_met.area, conditions_met.figure, count(*) as persons
    from conditions_met
    inner join figure_questions
        on conditions_met.project_id = figure_questions.project_id
        and conditions_met.figure = figure_questions.figure
    where conditions_met.conditions = figure_questions.conditions
    group by conditions_met.project_id, conditions_met.area, conditions_met.figure

),

inventory_figures as (

    select distinct project_id, 'kartlagda' as figure, 1 as figure_order from inventory_rules
    union all
    select distinct
        project_id, figure,
        case figure when 'utanfor_arbete_studier' then 2 when 'varken_af_eller_fs' then 3 else 4 end as figure_order
    from inventory_rules

),

inventory_counts as (

    select
        mapped_areas.project_id,
        mapped_areas.area,
        inventory_figures.figure,
        inventory_figures.figure_order,
        cast(case
            when inventory_figures.figure = 'kartlagda' then (
                select count(*) from person_areas
                where person_areas.project_id = mapped_areas.project_id and person_areas.area = mapped_areas.area)
            else coalesce(figure_persons.persons, 0)
        end as double) as numerator

    from mapped_areas
    inner join inventory_figures
        on mapped_areas.project_id = inventory_figures.project_id
    left join figure_persons
        on mapped_areas.project_id = figure_persons.project_id
        and mapped_areas.area = figure_persons.area
        and inventory_figures.figure = figure_persons.figure

),

inventory_values as (

    select
        inventory_counts.project_id,
        inventory_counts.area,
        'total' as breakdown,
        'T' as breakdown_group,
        'Inventering' as domain,
        inventory_counts.figure as question_id,
        inventory_counts.figure_order as question_order,
        'inventering' as measure,
        '' as category,
        0 as category_order,
        inventory_counts.numerator,
        case when inventory_counts.area = 'ALL' then cast(projects.target_population as double) end as denominator

    from inventory_counts
    inner join projects
        on inventory_counts.project_id = projects.project_id

    union all

    select
        projects.project_id,
        'ALL' as area,
        'total' as breakdown,
        'T' as breakdown_group,
        'Inventering' as domain,
        'malpopulation' as question_id,
        0 as question_order,
        'inventering' as measure,
        '' as category,
        0 as category_order,
        cast(projects.target_population as double) as numerator,
        cast(null as double) as denominator

    from projects
    where projects.target_population is not null
        and projects.project_id in (select project_id from inventory_counts where area = 'ALL')

),

all_values as (

    select
        project_id, area, breakdown, breakdown_group, domain, question_id, question_order, measure,
        category, category_order, numerator, denominator,
        case when denominator > 0 then numerator / denominator end as value
    from answer_values

    union all

    select
        project_id, area, breakdown, breakdown_group, domain, question_id, question_order, measure,
        category, category_order, numerator, denominator,
        case when denominator > 0 then numerator / denominator else numerator end as value
    from inventory_values

),

final as (

    select
        project_id || '|' || area || '|' || breakdown || '|' || breakdown_group || '|' || question_id
            || '|' || measure || '|' || category as mapping_value_id,
        *

    from all_values

)

select * from final
