with

source as (

    select * from {{ source('landing', 'delivery_states') }}

),

renamed as (

    select
        delivery_id,
        extract_kind,
        counts as is_counting,
        snapshot_rank,
        in_force as is_current_snapshot,
        arrival_rank

    from source

)

select * from renamed
