-- Every routed delivery of either kind (extract_kind: INSKRIVNING, KARTLAGGNING) with the flags that
-- say whether and where it counts. Whether it counts and is in force come from the warehouse's rule
-- (stg_landing__delivery_states), decided within the delivery's kind; is_newest is an enrolment
-- snapshot's (int_snapshots_ranked), false for a mapping file.

with

deliveries as (

    select * from {{ ref('stg_landing__deliveries') }}

),

states as (

    select * from {{ ref('stg_landing__delivery_states') }}

),

snapshots as (

    select delivery_id, is_newest_snapshot from {{ ref('int_snapshots_ranked') }}

),

final as (

    select
        deliveries.delivery_id,
        states.extract_kind,
        deliveries.project_id,
        deliveries.kommunkod,
        deliveries.reporting_month,
        deliveries.file_name,
        deliveries.archive_path,
        deliveries.sha256,
        deliveries.size_bytes,
        deliveries.received_at,
        deliveries.status,
        deliveries.verdict,
        deliveries.verdict_reason,
        deliveries.verdict_message,
        deliveries.rows_total,
        deliveries.rows_accepted,
        deliveries.rows_rejected,
        deliveries.rows_warned,
        deliveries.unknown_columns,
        states.is_counting,
        states.snapshot_rank,
        states.is_current_snapshot as is_current,
        coalesce(snapshots.is_newest_snapshot, false) as is_newest

    from deliveries
    inner join states using (delivery_id)
    left join snapshots using (delivery_id)

)

select * from final
