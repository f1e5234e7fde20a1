-- The KPI table in long format: one row per project, area, period, KPI and breakdown group.
-- The KPIs are the rows of the catalogue (seeds/kpi_catalogue.csv), each with its kind and the
-- quantities of int_kpi_counts its numerator and denominator count: this model names no KPI, so
-- a new KPI is a new catalogue row (and, if it counts something new, a column of int_kpi_counts).
-- Counts carry numerator = value and no denominator; shares carry both, and a share whose
-- denominator is 0 has no value. A median in days (kpi_type days) is int_kpi_counts' column of
-- its own name; it has no numerator and, as denominator, the number of persons the median is
-- taken over, so the funder export's disclosure control hides a median of few persons like a
-- share. The pace target (kpi_type target) is the participants target spread evenly over the
-- project's months. The participants target and the target population are the project's, not a
-- group's: a KPI over one of them (scope project_total) exists for ALL/total only, and only where
-- the project has it.
-- Project targets are project-wide: a share target (scale-free) is set on every row of its KPI,
-- a count target only on the ALL/total row.

with

kpi_counts as (

    select * from {{ ref('int_kpi_counts') }}

),

catalogue as (

    select * from {{ ref('kpi_catalogue') }}

),

projects as (

    select * from {{ ref('stg_landing__projects') }}

),

project_targets as (

    select * from {{ ref('stg_landing__project_targets') }}

),

-- Each cell (project, area, period, group) numbered, so that its quantities are found again by
-- one number rather than five texts (with 290 municipalities, joining on the texts took several
-- times as long). Materialised: the numbering is read twice and must be the same both times.
cells as materialized (

    select
        row_number() over () as cell_id,
        area = 'ALL' and breakdown = 'total' as is_project_total,
        * exclude (kpi_count_id)

    from kpi_counts

),

-- Every quantity of every cell as a row of its own: each column of int_kpi_counts (an empty one,
-- a median where nobody moved to activity, has no row), and on ALL/total the project's
-- participants target and target population, where it has them.
quantities as (

    select cell_id, quantity, cast(amount as double) as amount
    from (
        unpivot (select cell_id, columns(* exclude (project_id, area, period, breakdown, breakdown_group, is_project_total)) from cells)
        on columns(* exclude (cell_id))
        into name quantity value amount
    )

    union all

    select cells.cell_id, 'participants_target', project_targets.target
    from cells
    inner join project_targets
        on cells.project_id = project_targets.project_id
        and project_targets.kpi = 'participants'
    where cells.is_project_total

    union all

    select cells.cell_id, 'target_population', cast(projects.target_population as double)
    from cells
    inner join projects
        on cells.project_id = projects.project_id
    where cells.is_project_total and projects.target_population is not null

),

-- What each KPI is made of: the quantity its numerator counts, the one its denominator counts
-- and, for a median, the median itself.
kpi_parts as (

    select kpi, 'numerator' as part, numerator as quantity from catalogue where numerator is not null
    union all
    select kpi, 'denominator' as part, denominator as quantity from catalogue where denominator is not null
    union all
    select kpi, 'median' as part, kpi as quantity from catalogue where kpi_type = 'days'

),

parts as (

    select
        quantities.cell_id,
        kpi_parts.kpi,
        max(quantities.amount) filter (where kpi_parts.part = 'numerator') as numerator,
        max(quantities.amount) filter (where kpi_parts.part = 'denominator') as denominator,
        max(quantities.amount) filter (where kpi_parts.part = 'median') as median_value

    from quantities
    inner join kpi_parts
        on quantities.quantity = kpi_parts.quantity
    group by quantities.cell_id, kpi_parts.kpi

),

-- Every KPI made of quantities, in every cell of its scope: a KPI of every group in every cell,
-- one of the whole project on ALL/total where the project has every quantity it is made of.
made_of_counts as (

    select
        cells.project_id,
        cells.area,
        cells.period,
        catalogue.kpi,
        cells.breakdown,
        cells.breakdown_group,
        catalogue.kpi_type,
        parts.numerator,
        parts.denominator,
        parts.median_value as given_value

    from parts
    inner join cells
        on parts.cell_id = cells.cell_id
    inner join catalogue
        on parts.kpi = catalogue.kpi
    where catalogue.scope = 'every_group'
        or (
            cells.is_project_total
            and (catalogue.numerator is null or parts.numerator is not null)
            and (catalogue.denominator is null or parts.denominator is not null)
        )

),

-- The participants target spread evenly over the project's months: the target times the months
-- from the project's first month to the period (inclusive) over all its months, as the asset
-- check participants_on_pace reads it. participants on pace: participants >= this value.
participants_pace_targets as (

    select
        cells.project_id,
        cells.area,
        cells.period,
        catalogue.kpi,
        cells.breakdown,
        cells.breakdown_group,
        catalogue.kpi_type,
        cast(null as double) as numerator,
        cast(null as double) as denominator,
        project_targets.target
            * (date_diff('month', date_trunc('month', projects.period_start), cast(cells.period || '-01' as date)) + 1)
            / (date_diff('month', date_trunc('month', projects.period_start), date_trunc('month', projects.period_end)) + 1)
            as given_value

    from cells
    inner join catalogue
        on catalogue.kpi_type = 'target'
    inner join projects
        on cells.project_id = projects.project_id
    inner join project_targets
        on cells.project_id = project_targets.project_id
        and project_targets.kpi = 'participants'
    where cells.is_project_total

),

all_kpis as (

    select * from made_of_counts
    union all
    select * from participants_pace_targets

),

valued as (

    select
        * exclude (given_value),
        case
            when kpi_type = 'count' then numerator
            when kpi_type in ('days', 'target') then given_value
            when denominator = 0 then null
            else numerator / denominator
        end as value

    from all_kpis

),

targeted as (

    select
        valued.*,
        case
            when valued.kpi_type in ('share', 'days') then project_targets.target
            when valued.kpi_type = 'count' and valued.area = 'ALL' and valued.breakdown = 'total' then project_targets.target
        end as target

    from valued
    left join project_targets
        on valued.project_id = project_targets.project_id
        and valued.kpi = project_targets.kpi

),

final as (

    select
        project_id || '|' || area || '|' || period || '|' || kpi || '|' || breakdown || '|' || breakdown_group
            as kpi_value_id,
        project_id,
        area,
        period,
        kpi,
        kpi_type,
        breakdown,
        breakdown_group,
        value,
        numerator,
        denominator,
        target,
        -- fewer days to activity is better
        case when kpi_type = 'days' then value <= target else value >= target end as target_met

    from targeted

)

select * from final
