with

source as (

    select * from {{ source('landing', 'project_targets') }}

),

renamed as (

    select
        project_id,
        kpi,
        cast(target as double) as target

    from source

)

select * from renamed
