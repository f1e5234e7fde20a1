-- The answers of accepted mapping rows. The free text (answer_text) is left in landing: no model
-- reads it, so it can reach no figure and no export.

with

source as (

    select * from {{ source('landing', 'mapping_answers') }}

),

renamed as (

    select
        delivery_id,
        row_number,
        question_id,
        nullif(answer_code, '') as answer_code,
        answer_number

    from source

)

select * from renamed
