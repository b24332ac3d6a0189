-- Every UTC day some EngageTrack sync covered, and when it was last synced. Each sync lands
-- analytics/stats for its window and each of its days, so raw_engagetrack.stats names every
-- range ever synced, whether or not it had events.
with days as (
    select site_id,
           cast(unnest(generate_series(date_from, date_to, interval 1 day)) as date) as day,
           synced_at
    from raw_engagetrack.stats
)

select site_id, day, max(synced_at) as synced_at
from days
group by all
