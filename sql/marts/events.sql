-- materialized: view
-- One row per distinct event, the same shape whatever the source (Vemetric, EngageTrack). `occurrences` counts
-- identical events fired in the same second (sum it for event counts). `session_id` is the
-- source's own session id; marts.sessions may split it after 30 minutes of inactivity.
-- A view, not a copy: the staging views are already one row per event, so copying 10M rows
-- on every build only to read them again cost more than any model. Filters on `day` reach
-- the raw tables' partition_date, so a model reading some days scans only those.
select
    'vemetric'     as source,
    event_id,
    user_id,
    session_id,
    event_name,
    is_pageview,
    occurred_at,   -- UTC: second precision from Vemetric, milliseconds from EngageTrack
    day,           -- UTC day of occurred_at
    origin,
    path,
    hash,
    properties,    -- JSON text
    occurrences
from stg_vemetric.events
union all
select
    'engagetrack'  as source,
    event_id,
    user_id,       -- the visitor id
    session_id,
    event_name,
    is_pageview,
    occurred_at,
    day,
    origin,
    path,
    hash,
    properties,
    occurrences
from stg_engagetrack.events
