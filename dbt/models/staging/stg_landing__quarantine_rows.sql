with

source as (

    select * from {{ source('landing', 'quarantine_rows') }}

),

renamed as (

    select
        delivery_id,
        project_id,
        kommunkod,
        reporting_month,
        row_number,
        reason_code,
        column_name,
        message

    from source

)

select * from renamed
