with

source as (

    select * from {{ source('landing', 'mapping_rows') }}

),

renamed as (

    select
        delivery_id || '|' || cast(row_number as varchar) as mapping_row_id,
        delivery_id,
        project_id,
        kommunkod,
        reporting_month,
        row_number,
        person_id,
        is_anonymous,
        nullif(kon, '') as kon,
        age_at_answer,
        cast(besvarad as date) as besvarad,
        warnings

    from source

)

select * from renamed
