with

source as (

    select * from {{ source('landing', 'mapping_inventory_rules') }}

),

renamed as (

    select
        project_id,
        figure,
        question_id,
        code

    from source

)

select * from renamed
