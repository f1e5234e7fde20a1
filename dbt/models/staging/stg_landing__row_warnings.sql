with

source as (

    select * from {{ source('landing', 'row_warnings') }}

),

renamed as (

    select
        delivery_id,
        row_number,
        warning_code,
        column_name,
        message

    from source

)

select * from renamed
