with

source as (

    select * from {{ source('landing', 'project_activity_outcomes') }}

),

renamed as (

    select
        project_id,
        upper(trim(avslutsorsak)) as avslutsorsak

    from source

)

select * from renamed
