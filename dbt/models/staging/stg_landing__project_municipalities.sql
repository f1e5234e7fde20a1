with

source as (

    select * from {{ source('landing', 'project_municipalities') }}

),

renamed as (

    select
        project_id,
        kommunkod,
        kommun

    from source

)

select * from renamed
