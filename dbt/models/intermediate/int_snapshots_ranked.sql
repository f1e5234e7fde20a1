-- Which delivery is in force: whether a delivery counts and which counting delivery is the current
-- snapshot of its project, municipality and month (a resubmission replaces the earlier file) come
-- from the warehouse's rule (stg_landing__delivery_states, owned by orchestration/lib/delivery_state.py);
-- a municipality's newest snapshot is its current snapshot with the greatest reporting month.
-- Enrolment snapshots only (extract_kind INSKRIVNING): a mapping file (KARTLAGGNING) is in force
-- within its own kind and is never an enrolment snapshot.

with

deliveries as (

    select * from {{ ref('stg_landing__deliveries') }}

),

states as (

    select * from {{ ref('stg_landing__delivery_states') }}
    where extract_kind = 'INSKRIVNING'

),

current_flagged as (

    select
        deliveries.*,
        states.is_counting,
        states.snapshot_rank,
        states.is_current_snapshot

    from deliveries
    inner join states using (delivery_id)

),

newest_flagged as (

    select
        *,
        is_current_snapshot
            and reporting_month = max(case when is_current_snapshot then reporting_month end)
                over (partition by project_id, kommunkod) as is_newest_snapshot

    from current_flagged

)

select * from newest_flagged
