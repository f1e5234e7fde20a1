with

source as (

    select * from {{ source('landing', 'projects') }}

),

renamed as (

    select
        project_id,
        name as project_name,
        owner,
        funder,
        cast(period_start as date) as period_start,
        cast(period_end as date) as period_end,
        age_min,
        age_max,
        target_population,
        min_count

    from source

)

select * from renamed
