with

source as (

    select * from {{ source('landing', 'mapping_categories') }}

),

renamed as (

    select
        project_id,
        question_id,
        category,
        label as category_label,
        display_order as category_order,
        lower_bound,
        upper_bound

    from source

)

select * from renamed
