-- The arithmetic of every kpi_values row: a count has numerator = value and no denominator; a
-- share is numerator / denominator, blank exactly when the denominator is 0; target_met is
-- value >= target, blank when either is.

select *
from {{ ref('kpi_values') }}
where
    (kpi_type = 'count' and (value is distinct from numerator or denominator is not null))
    or (kpi_type = 'share' and denominator = 0 and value is not null)
    or (kpi_type = 'share' and denominator <> 0 and abs(value - numerator / denominator) > 1e-12)
    or (target_met is distinct from (value >= target))
