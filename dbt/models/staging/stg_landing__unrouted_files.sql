with

source as (

    select * from {{ source('landing', 'unrouted_files') }}

),

renamed as (

    select
        inbox_path,
        sha256,
        seen_at,
        reason_code,
        message

    from source

)

select * from renamed
