-- One row per user the sources know (EngageTrack's visitors too), with the profile they report. Vemetric's API gives each
-- user's country and city as of their latest event in the synced range (not per event).
select
    'vemetric'         as source,
    user_id,
    identifier,
    display_name,
    anonymous,
    country,
    city,
    avatar_url,
    properties,        -- JSON text of the user's custom data
    last_seen_at,
    first_active_day,
    last_active_day
from stg_vemetric.users
union all
select
    'engagetrack',
    user_id,
    identifier,
    display_name,
    anonymous,
    country,
    city,
    avatar_url,
    properties,
    last_seen_at,
    first_active_day,
    last_active_day
from stg_engagetrack.users
