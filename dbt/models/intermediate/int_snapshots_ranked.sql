-- Which delivery is in force: a delivery counts when it was validated and not rejected; of the
-- counting deliveries for one project, municipality and month the one that arrived last (arrival_seq:
-- the order intake found them in) is the current
-- snapshot (a resubmission replaces the earlier file); a municipality's newest snapshot is its
-- current snapshot with the greatest reporting month.

with

deliveries as (

    select * from {{ ref('stg_landing__deliveries') }}

),

counting_flagged as (

    select
        *,
        status = 'VALIDATED'
            and coalesce(verdict in ('ACCEPTED', 'ACCEPTED_WITH_WARNINGS'), false) as is_counting

    from deliveries

),

ranked as (

    select
        *,
        case
            when is_counting then row_number() over (
                partition by project_id, kommunkod, reporting_month, is_counting
                order by arrival_seq desc nulls last, received_at desc, delivery_id desc
            )
        end as snapshot_rank

    from counting_flagged

),

current_flagged as (

    select
        *,
        coalesce(snapshot_rank = 1, false) as is_current_snapshot

    from ranked

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
