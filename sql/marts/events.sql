-- partition: day
-- One row per distinct event, the same shape whatever the source (Vemetric, EngageTrack). `occurrences` counts
-- identical events fired in the same second (sum it for event counts). `session_id` is the
-- source's own session id; marts.sessions may split it after 30 minutes of inactivity.
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
where day between $first and $last
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
where day between $first and $last
