-- The mapping's answers in long form: one row per occasion that counts (int_mapping_occasions),
-- question and answer category (a multiple choice: one row per code chosen). The category is the
-- code of a coded question, the scale step as text ('1'..'5'), the band a number falls in
-- (lower_bound <= x < upper_bound, an open band without upper bound) or BESVARAD for a number
-- question without bands. Free-text questions have no category: their answers are never here.

with

occasions as (

    select * from {{ ref('int_mapping_occasions') }}

),

answers as (

    select * from {{ ref('stg_landing__mapping_answers') }}

),

questions as (

    select * from {{ ref('stg_landing__mapping_questions') }}

),

categories as (

    select * from {{ ref('stg_landing__mapping_categories') }}

),

categorised as (

    select
        occasions.mapping_occasion_id,
        occasions.project_id,
        occasions.kommunkod,
        occasions.person_id,
        occasions.is_anonymous,
        occasions.besvarad,
        occasions.occasion_number,
        occasions.occasion_number = 1 as is_first_occasion,
        occasions.occasion_number = occasions.occasions as is_latest_occasion,
        occasions.delivery_id,
        occasions.row_number,
        questions.question_id,
        questions.question_order,
        questions.domain,
        questions.answer_type,
        categories.category,
        categories.category_order,
        answers.answer_number

    from occasions
    inner join answers
        on occasions.delivery_id = answers.delivery_id
        and occasions.row_number = answers.row_number
    inner join questions
        on occasions.project_id = questions.project_id
        and answers.question_id = questions.question_id
    inner join categories
        on questions.project_id = categories.project_id
        and questions.question_id = categories.question_id
        and case
            when questions.answer_type in ('single_choice', 'multiple_choice', 'yes_no')
                then categories.category = answers.answer_code
            when questions.answer_type = 'scale'
                then categories.lower_bound = answers.answer_number
            when questions.answer_type = 'number'
                then categories.category = 'BESVARAD'
                    or (answers.answer_number >= categories.lower_bound
                        and (categories.upper_bound is null or answers.answer_number < categories.upper_bound))
            else false
        end

),

final as (

    select
        mapping_occasion_id || '|' || question_id || '|' || category as mapping_answer_id,
        *

    from categorised

)

select * from final
