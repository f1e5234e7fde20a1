-- Every routed delivery with the flags that say whether and where it counts.

with

snapshots as (

    select * from {{ ref('int_snapshots_ranked') }}

),

final as (

    select
        delivery_id,
        project_id,
        kommunkod,
        reporting_month,
        file_name,
        archive_path,
        sha256,
        size_bytes,
        received_at,
        status,
        verdict,
        verdict_reason,
        verdict_message,
        rows_total,
        rows_accepted,
        rows_rejected,
        rows_warned,
        unknown_columns,
        is_counting,
        snapshot_rank,
        is_current_snapshot as is_current,
        is_newest_snapshot as is_newest

    from snapshots

)

select * from final
