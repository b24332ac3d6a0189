-- One row per distinct event the API listed for a user (raw_vemetric.user_events), renamed to
-- the conformed names. The API has no event id: event_id is landing's hash of the event's
-- fields, and identical events fired in the same second are one row whose `occurrences`
-- counts them (sum it, never count(*)). Times are UTC at second precision, as the API sends
-- them; `day` is the UTC day (the raw partition). Empty origin/path/hash come as null from
-- the API and are '' here, as Vemetric stores them.
with source as (
    -- Already one row per event: landing names each event by a hash of all its fields and
    -- replaces whole days in one transaction, so an event_id occurs once (no window needed,
    -- which would cost more than the rest of the model at 10M events).
    select * from raw_vemetric.user_events
)

select
    event_id,
    user_id,
    session_id,
    name                  as event_name,
    is_page_view          as is_pageview,
    created_at            as occurred_at,
    partition_date        as day,
    coalesce(origin, '')  as origin,
    coalesce(path, '')    as path,
    coalesce(hash, '')    as hash,
    data                  as properties,   -- canonical JSON text of the event's customData
    occurrences,
    synced_at
from source
