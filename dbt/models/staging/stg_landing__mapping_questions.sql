with

source as (

    select * from {{ source('landing', 'mapping_questions') }}

),

renamed as (

    select
        project_id || '|' || question_id as mapping_question_id,
        project_id,
        question_id,
        display_order as question_order,
        domain,
        question_text,
        answer_type,
        required as is_required,
        min_value,
        max_value,
        fingerprint

    from source

)

select * from renamed
