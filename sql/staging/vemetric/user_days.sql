-- One row per user and active day, as the API listed the user for that day
-- (raw_vemetric.users), renamed to the conformed names; empty strings are null. A user's
-- profile is the listing with the latest last_seen_at (marts.users picks it). No window
-- here, so that a filter on user_id or day reaches the raw table's scan (marts.users
-- rebuilds only the users a new day lists, by filtering on user_id).
select
    id                           as user_id,
    partition_date               as day,
    nullif(identifier, '')       as identifier,
    nullif(display_name, '')     as display_name,
    anonymous,
    nullif(country, '')          as country,
    nullif(city, '')             as city,
    nullif(avatar_url, '')       as avatar_url,
    data                         as properties,   -- canonical JSON text of the user's data
    last_seen_at,
    synced_at
from raw_vemetric.users
