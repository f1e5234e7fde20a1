-- activity_share = moved_to_activity / participants in every cell, blank when there are no
-- participants (the UVAS headline).

with

kpi_values as (

    select * from {{ ref('kpi_values') }}

),

shares as (

    select * from kpi_values
    where kpi = 'activity_share'

),

moved as (

    select * from kpi_values
    where kpi = 'moved_to_activity'

),

participants as (

    select * from kpi_values
    where kpi = 'participants'

)

select
    shares.kpi_value_id,
    shares.value,
    shares.numerator,
    shares.denominator,
    moved.value as moved_to_activity,
    participants.value as participants

from shares
left join moved
    on shares.project_id = moved.project_id
    and shares.area = moved.area
    and shares.period = moved.period
    and shares.breakdown = moved.breakdown
    and shares.breakdown_group = moved.breakdown_group
left join participants
    on shares.project_id = participants.project_id
    and shares.area = participants.area
    and shares.period = participants.period
    and shares.breakdown = participants.breakdown
    and shares.breakdown_group = participants.breakdown_group
where moved.value is null
    or participants.value is null
    or shares.numerator <> moved.value
    or shares.denominator <> participants.value
    or (participants.value = 0 and shares.value is not null)
    or (participants.value > 0 and abs(shares.value - moved.value / participants.value) > 1e-12)
