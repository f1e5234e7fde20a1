-- The arithmetic of every kpi_values row: a count has numerator = value and no denominator; a
-- share is numerator / denominator, blank exactly when the denominator is 0; a median in days
-- has no numerator, the number of persons as denominator and is blank exactly when that is 0;
-- the pace target has neither; target_met is value >= target (value <= target for days), blank
-- when either is.

select *
from {{ ref('kpi_values') }}
where
    (kpi_type = 'count' and (value is distinct from numerator or denominator is not null))
    or (kpi_type = 'share' and denominator = 0 and value is not null)
    or (kpi_type = 'share' and denominator <> 0 and abs(value - numerator / denominator) > 1e-12)
    or (kpi_type = 'days' and (numerator is not null or denominator is null or ((denominator = 0) <> (value is null))))
    or (kpi_type = 'target' and (numerator is not null or denominator is not null or value is null))
    or (kpi_type <> 'days' and target_met is distinct from (value >= target))
    or (kpi_type = 'days' and target_met is distinct from (value <= target))
