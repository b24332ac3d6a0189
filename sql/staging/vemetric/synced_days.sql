-- Every UTC day some sync covered, and when it was last synced. A day is covered when a sync's
-- range included it, whether or not it had events (each sync lands the API's aggregates for
-- its range, so raw_vemetric.analytics names every range ever synced).
with ranges as (
    select distinct date_from, date_to, synced_at from raw_vemetric.analytics
),

days as (
    select cast(unnest(generate_series(date_from, date_to, interval 1 day)) as date) as day,
           synced_at
    from ranges
)

select day, max(synced_at) as synced_at
from days
group by day
