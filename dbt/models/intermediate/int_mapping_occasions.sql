-- A table, not a view: fct_mapping_answers and mapping_values both read it.
{{ config(materialized='table') }}

-- The mapping occasions that count: one row per project, person and day answered (besvarad),
-- from the accepted rows of the mapping deliveries in force (extract kind KARTLAGGNING, the
-- delivery in force for its project, municipality and month: orchestration/lib/delivery_state.py
-- decides it, stg_landing__delivery_states reads it). One occasion in several files in force (different months,
-- or municipalities) counts once, from the file of the latest reporting month, then the delivery
-- in force order (delivery_state.IN_FORCE_ORDER, as the view's arrival_rank: 1 the newest). Each
-- occasion is numbered per person in the project, oldest first.

with

in_force_mapping_deliveries as (

    select delivery_id, arrival_rank
    from {{ ref('stg_landing__delivery_states') }}
    where extract_kind = 'KARTLAGGNING' and is_current_snapshot

),

mapping_rows as (

    select * from {{ ref('stg_landing__mapping_rows') }}

),

ranked as (

    select
        mapping_rows.*,
        row_number() over (
            partition by mapping_rows.project_id, mapping_rows.person_id, mapping_rows.besvarad
            order by
                mapping_rows.reporting_month desc,
                deliveries.arrival_rank
        ) as duplicate_rank

    from mapping_rows
    inner join in_force_mapping_deliveries as deliveries
        on mapping_rows.delivery_id = deliveries.delivery_id

),

occasions as (

    select * exclude (duplicate_rank) from ranked
    where duplicate_rank = 1

),

final as (

    select
        project_id || '|' || person_id || '|' || strftime(besvarad, '%Y-%m-%d') as mapping_occasion_id,
        *,
        row_number() over (partition by project_id, person_id order by besvarad) as occasion_number,
        count(*) over (partition by project_id, person_id) as occasions

    from occasions

)

select * from final
