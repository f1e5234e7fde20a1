"""The rules that are numbers, in one place: every module that applies one imports it from here."""

from __future__ import annotations

# A file is rejected whole when more than this share of its rows is rejected (quality/validate.py).
MAX_REJECTED_SHARE = 0.20

# A month's delivery is due by this day of the following month (status, monitoring, feedback,
# the delivery template); `followup status --deadline-day` can move it.
DEADLINE_DAY = 10

# A share is shown to a funder only over at least this many people (reporting/suppression.py).
MIN_SHARE_DENOMINATOR = 10

# Rows per batch, so a national backfill (millions of rows) never sits in memory at once. The two
# stages hold different things per row, so each has its own size:
# - pseudonymising (privacy/stage.py) holds the rows as read, every cell as text, beside their
#   pseudonymised frame; a batch is written before a file would take it past this, so it holds
#   at most max(PSEUDONYMISE_BATCH_ROWS, one file at the row limit);
# - validating (quality/stage.py) holds typed pseudonymised rows and the rules' findings, and
#   takes whole reporting months (a month larger than a batch in parts of whole deliveries).
PSEUDONYMISE_BATCH_ROWS = 200_000
VALIDATE_BATCH_ROWS = 250_000

# Which changed municipality-months `delivery_status` logs as Dagster partition events
# (reporting/delivery_assets.py; one event costs ~10-15 ms): a month it logged before, one of
# the project's newest PARTITION_NEWEST_MONTHS months or its municipality's newest, or every
# changed month when a run changes at most PARTITION_FEW_CHANGES_PER_MUNICIPALITY months per
# municipality of the project (a monthly run with a correction or two). A backfill's older months
# are in the status table. One newest month: a national backfill logs 290 events, not 870 (~8 s).
PARTITION_NEWEST_MONTHS = 1
PARTITION_FEW_CHANGES_PER_MUNICIPALITY = 2
