-- One row per user: the profile from the most recent listing (raw_vemetric.users holds a row
-- per user and active day). country/city are those of the user's latest event in the synced
-- range, as /v1/users reports them; empty strings are null.
with source as (
    select * from raw_vemetric.users
),

latest as (
    select
        *,
        min(partition_date) over (partition by id) as first_active_day,
        max(partition_date) over (partition by id) as last_active_day
    from source
    qualify row_number() over (partition by id order by last_seen_at desc, synced_at desc) = 1
)

select
    id                           as user_id,
    nullif(identifier, '')       as identifier,
    nullif(display_name, '')     as display_name,
    anonymous,
    nullif(country, '')          as country,
    nullif(city, '')             as city,
    nullif(avatar_url, '')       as avatar_url,
    data                         as properties,   -- canonical JSON text of the user's data
    last_seen_at,
    first_active_day,
    last_active_day
from latest
